"""Docker-free local runtime: the template's resources on an embedded moto server, functions in-process.

    with LocalStack("template.yaml", visibility_timeout=1) as stack:
        stack.invoke("SenderFunction", event)
        stack.drain(timeout=30)

See local/runtime/README.md.
"""

from local.runtime.provision import create_queues, create_roles, create_schedule_groups, create_tables
from local.runtime.runtime_log import RuntimeLog
from local.runtime.scheduler import Clock, Firing
from local.runtime.stack import LocalStack
from local.runtime.strict import Faults, parse_faults
from local.runtime.template import Template, TemplateError, load_template

__all__ = [
    "Clock",
    "Faults",
    "Firing",
    "LocalStack",
    "RuntimeLog",
    "Template",
    "TemplateError",
    "create_queues",
    "create_roles",
    "create_schedule_groups",
    "create_tables",
    "load_template",
    "parse_faults",
]
