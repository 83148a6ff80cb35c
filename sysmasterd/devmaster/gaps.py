"""What devmaster accepts in rules but does not do the way udevd does.

One table read by the rules executor (for its log lines) and by `sysmaster-migrate report`, so
the report cannot claim something the executor does not do, and the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from udev_rules_translator.model import Builtin, TokenType

# Assignments that are parsed and recorded but have no effect on the device.
NOT_APPLIED_TOKENS: Mapping[TokenType, str] = MappingProxyType({
    TokenType.A_SECLABEL: "recorded but not applied: no SELinux/SMACK support",
})

# Builtins that run and succeed without doing their job.
NOOP_BUILTINS: Mapping[Builtin, str] = MappingProxyType({
    Builtin.UACCESS: "does nothing and succeeds: no logind, so no ACL is granted on the node",
})
