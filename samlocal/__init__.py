"""Docker-free local runtime: the template's resources on an embedded moto server, functions in-process.

    with LocalRuntime("template.yaml", visibility_timeout=1) as stack:
        stack.invoke("SenderFunction", event)
        stack.drain(timeout=30)

See samlocal/README.md.
"""

from samlocal.functions import FunctionTimeout
from samlocal.provision import create_queues, create_roles, create_schedule_groups, create_tables
from samlocal.runtime import LocalRuntime
from samlocal.runtime_log import RuntimeLog
from samlocal.scheduler import Clock, Firing
from samlocal.strict import Faults, parse_faults
from samlocal.template import Template, TemplateError, load_template

__all__ = [
    "Clock",
    "Faults",
    "Firing",
    "FunctionTimeout",
    "LocalRuntime",
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
