"""Faust and aiokafka behaviours the worker repairs, one per module, each explained in its
module docstring and covered by a test: ``continuity`` (records Faust fetched but never
delivered), ``transport`` (a fixed consumer fetch wait, and the producer forgetting topics),
``diagnostics`` (``kill -USR1``: what a stuck worker waits for) and ``changelog`` (table
recovery stopping short of a changelog's end on the embedded broker).
"""
