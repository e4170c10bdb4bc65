"""A module the tests package into a Lambda layer (under python/)."""


def greet(name):
    return f"hello {name} from a layer"
