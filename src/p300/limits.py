"""Limits of the raw-recording contract that need no array code (the upload API checks them
in a function without numpy); `p300.contract` re-exports them."""

#: Upper limit of a raw file's size in bytes, checked before parsing (a 10-minute 16-channel
#: 512 Hz recording is about 20 MB).
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
