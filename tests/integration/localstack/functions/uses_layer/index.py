"""A function that imports a module shipped in a layer."""

import p300_layer_greeting


def handler(event, context):
    return p300_layer_greeting.greet(event["name"])
