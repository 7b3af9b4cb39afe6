"""Erasure of a child (DESIGN §7, §9 "Crypto-shredding"): the operation, its audit trail, and the
watch through which every running process lets go of what it holds. ``docs/architecture.md``
("Erasure") tells the whole story."""
