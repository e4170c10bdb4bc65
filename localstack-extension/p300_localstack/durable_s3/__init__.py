"""Durable S3 for LocalStack: every acknowledged S3 change survives a restart or a kill -9.

journal.py (file format), blobs.py, state.py, recovery.py, log.py and touched.py are pure (no
LocalStack imports); store.py, capture.py, notifications.py, handler.py and runtime.py run inside
LocalStack; hook.py is the plux entry point.
"""
