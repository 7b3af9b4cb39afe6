"""Reminders by e-mail: each organisation's functional mailbox is told how many items wait on its
to-do page (``services.api.todo``), and given the link -- never what they are about."""
