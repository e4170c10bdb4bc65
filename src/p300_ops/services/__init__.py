"""The ops library: what the `p300` commands (and a console) call.

One module per concern. Functions take clients or plain values and return plain data
(dataclasses, dicts, lists); nothing here prints or knows about click or rich. Errors meant for
the user are `errors.ServiceError`s, whose message says what to do.
"""
