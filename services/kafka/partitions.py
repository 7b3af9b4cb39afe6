"""Which partition a key lands in: Kafka's default partitioner, murmur2 of the key, as Kafka's
own clients and aiokafka's ``send`` compute it. Every topic is keyed by child id and
co-partitioned, so this one function tells where any of a child's records sit.
"""

from __future__ import annotations

import functools

from aiokafka.partitioner import murmur2

KEYS_KEPT = 200_000  # keys whose partition is remembered; a county's children, with room


@functools.lru_cache(maxsize=KEYS_KEPT)
def partition_of(key: str | bytes, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``; a ``str`` key counts as its UTF-8 bytes.

    Remembered per key: murmur2 in pure Python cost about a tenth of the connector publish path,
    and a child's key comes back with each of its records (and with each of the gate's ticks).
    """
    data = key.encode() if isinstance(key, str) else key
    return (murmur2(data) & 0x7FFFFFFF) % partitions
