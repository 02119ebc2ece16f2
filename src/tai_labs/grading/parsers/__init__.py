"""Parsing of command outputs for the checks, and the small evidence helpers they share.

Every parser is pure and returns ``None`` (or raises ``ValueError``) when the text is not what
the command prints: a judge turns that into ``error``, never into a pass. Outputs are asked in
the C locale where the tool translates, but parsers accept the French forms a candidate's node
may print when a command could not be forced to C.

One module per domain; this package re-exports their names, so checks write ``p.parse_stat``.
"""

from tai_labs.grading.parsers.cron import (
    CRON_FILES_SCRIPT,
    CRON_MACROS,
    CronJob,
    normalize_schedule,
    oncalendar_to_cron,
    parse_cron_files,
    parse_cron_table,
)
from tai_labs.grading.parsers.evidence import (
    C_LOCALE,
    findall_between,
    first_line,
    fold,
    not_run,
    output,
    quote,
    run,
    tool_missing,
)
from tai_labs.grading.parsers.network import (
    DigAnswer,
    PortVerdict,
    dns_name,
    nft_port_verdict,
    parse_dhclient_lease,
    parse_dig,
    parse_getent_ahosts,
)
from tai_labs.grading.parsers.records import (
    COLUMN_SYNONYMS,
    PLACEHOLDERS,
    filled,
    find_columns,
    parse_table,
    report_fields,
)
from tai_labs.grading.parsers.system import (
    NO_SUCH_FILE,
    STAT_FORMAT,
    DiskFree,
    FstabEntry,
    ResolvConf,
    Stat,
    dpkg_state,
    execstart_argvs,
    parse_df,
    parse_fstab,
    parse_json,
    parse_lpstat_accepting,
    parse_lpstat_default,
    parse_lpstat_printer,
    parse_resolv_conf,
    parse_sshd_t,
    parse_stat,
    parse_systemctl_show,
    says_no_such_file,
)

__all__ = [
    "COLUMN_SYNONYMS",
    "CRON_FILES_SCRIPT",
    "CRON_MACROS",
    "C_LOCALE",
    "NO_SUCH_FILE",
    "PLACEHOLDERS",
    "STAT_FORMAT",
    "CronJob",
    "DigAnswer",
    "DiskFree",
    "FstabEntry",
    "PortVerdict",
    "ResolvConf",
    "Stat",
    "dns_name",
    "dpkg_state",
    "execstart_argvs",
    "filled",
    "find_columns",
    "findall_between",
    "first_line",
    "fold",
    "nft_port_verdict",
    "normalize_schedule",
    "not_run",
    "oncalendar_to_cron",
    "output",
    "parse_cron_files",
    "parse_cron_table",
    "parse_df",
    "parse_dhclient_lease",
    "parse_dig",
    "parse_fstab",
    "parse_getent_ahosts",
    "parse_json",
    "parse_lpstat_accepting",
    "parse_lpstat_default",
    "parse_lpstat_printer",
    "parse_resolv_conf",
    "parse_sshd_t",
    "parse_stat",
    "parse_systemctl_show",
    "parse_table",
    "quote",
    "report_fields",
    "run",
    "says_no_such_file",
    "tool_missing",
]
