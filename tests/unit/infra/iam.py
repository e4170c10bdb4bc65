"""What a synthesized template allows one function: the statements of its own role's policies."""

from aws_cdk.assertions import Template


def function_statements(template: Template, function_name: str) -> list[dict]:
    """Every IAM statement of the policies attached to the role of function ``function_name``
    (not those of other roles: a permission claimed for one function must be that function's)."""
    found = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": function_name}}
    )
    assert len(found) == 1, f"expected one function {function_name}, found {list(found)}"
    role = next(iter(found.values()))["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy")
    attached = [p for p in policies.values() if {"Ref": role} in p["Properties"]["Roles"]]
    return [s for p in attached for s in p["Properties"]["PolicyDocument"]["Statement"]]


def function_actions(template: Template, function_name: str) -> set[str]:
    """The actions function ``function_name``'s role is allowed."""
    actions = set()
    for statement in function_statements(template, function_name):
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def resources_of(template: Template, function_name: str, action: str) -> list:
    """The resources of the statements that allow ``action`` to ``function_name``'s role."""
    found = []
    for statement in function_statements(template, function_name):
        listed = statement["Action"]
        if action in ([listed] if isinstance(listed, str) else listed):
            resource = statement["Resource"]
            found += resource if isinstance(resource, list) else [resource]
    return found
