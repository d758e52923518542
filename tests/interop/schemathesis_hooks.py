"""Strategies schemathesis uses for the string formats Keysmith's OpenAPI
document declares beyond JSON Schema's own (loaded through
`schemathesis.toml`'s `hooks`).

`$filter` is an OData expression, a grammar no JSON Schema pattern can
state (nested parentheses), and `$orderby`/`$select` name properties of
the collection they are sent to. The document gives each collection's
query options a format of their own (`graph-filter-users`,
`graph-orderby-groups`, `graph-select-fido2Methods`, …) and these
strategies generate grammatical values over that collection's
properties, as `crates/odata/src/lib.rs` reads them and
`crates/server/src/store/query.rs` types them: text properties take any
comparison, `startswith` and `in`; booleans `eq`/`ne`; date-times any
comparison with a DateTimeOffset; `null` only `eq`/`ne`; `mail` (always
null) is not sortable; `$select` names are case-insensitive. Schemathesis
then checks that every such request is answered, not refused.
"""

from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

TEXT, BOOL, TIME, ALWAYS_NULL = "text", "bool", "time", "always-null"

# Each collection's filterable properties and their kinds (query.rs).
USERS = {"id": TEXT, "userPrincipalName": TEXT, "displayName": TEXT,
         "accountEnabled": BOOL, "createdDateTime": TIME, "mail": ALWAYS_NULL}
FILTERABLE = {
    "users": USERS,
    "members": USERS,
    "groups": {"id": TEXT, "displayName": TEXT, "createdDateTime": TIME},
    "fido2Methods": {"id": TEXT, "aaGuid": TEXT, "displayName": TEXT,
                     "model": TEXT, "createdDateTime": TIME},
    "directoryAudits": {"activityDisplayName": TEXT, "activityDateTime": TIME},
}
SORTABLE = {name: [p for p, kind in props.items() if kind != ALWAYS_NULL]
            for name, props in FILTERABLE.items()}
SELECTABLE = {
    "users": list(USERS),
    "members": list(USERS),
    "groups": ["id", "displayName", "description", "createdDateTime"],
    "fido2Methods": ["id", "displayName", "createdDateTime", "aaGuid", "model",
                     "attestationCertificates", "attestationLevel", "passkeyType"],
    "directoryAudits": ["id", "sequenceNumber", "activityDateTime", "activityDisplayName",
                        "initiatedBy", "targetResources", "result", "resultReason",
                        "correlationId", "additionalDetails"],
}

ORDER_OPS = ["eq", "ne", "gt", "ge", "lt", "le"]

# Any character but lone surrogates (which no URL can carry) and NUL
# (which no value may hold: a 400); a quote is written doubled inside an
# OData string.
text_literal = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                       max_size=12).map(
    lambda s: "'" + s.replace("'", "''") + "'")


def _date_time(moment, fraction, offset_minutes):
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += f".{fraction:03d}"
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


# RFC 3339 date-times (unquoted in OData), in UTC or an offset.
time_literal = st.builds(
    _date_time,
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 31),
                 timezones=st.just(timezone.utc)),
    st.integers(0, 999) | st.just(0),
    st.sampled_from([0, 60, -300, 330, 14 * 60, -12 * 60]),
)


def literal_for(kind):
    return {
        TEXT: text_literal,
        ALWAYS_NULL: text_literal,
        BOOL: st.sampled_from(["true", "false"]),
        TIME: time_literal,
    }[kind]


def term(properties):
    """One comparison, `startswith` or `in` over `properties`."""
    def for_property(name):
        kind = properties[name]
        value = literal_for(kind)
        ops = ORDER_OPS if kind in (TEXT, TIME, ALWAYS_NULL) else ["eq", "ne"]
        options = [
            st.tuples(st.sampled_from(ops), value).map(lambda t: f"{name} {t[0]} {t[1]}"),
            st.sampled_from(["eq", "ne"]).map(lambda op: f"{name} {op} null"),
            st.lists(value, min_size=1, max_size=4).map(lambda vs: f"{name} in ({', '.join(vs)})"),
        ]
        if kind in (TEXT, ALWAYS_NULL):
            options.append(text_literal.map(lambda v: f"startswith({name}, {v})"))
        return st.one_of(options)
    return st.sampled_from(sorted(properties)).flatmap(for_property)


def filter_expression(properties):
    """`not`, `and`, `or` and parentheses over terms, a few levels deep."""
    return st.recursive(
        term(properties),
        lambda inner: st.one_of(
            inner.map(lambda e: f"not ({e})"),
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
                lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        ),
        max_leaves=6,
    )


def order_by(properties):
    """One to three distinct properties, each bare, `asc` or `desc`."""
    def directions(names):
        return st.tuples(*[st.sampled_from([n, n + " asc", n + " desc"]) for n in names])
    return st.lists(st.sampled_from(properties), min_size=1, max_size=3, unique=True).flatmap(
        directions).map(", ".join)


def select(properties):
    """Distinct properties in any case, comma-separated."""
    spelled = st.sampled_from(properties).flatmap(
        lambda p: st.sampled_from([p, p.lower(), p.upper()]))
    return st.lists(spelled, min_size=1, max_size=5, unique_by=str.lower).map(",".join)


for collection, properties in FILTERABLE.items():
    schemathesis.openapi.format(f"graph-filter-{collection}", filter_expression(properties))
    schemathesis.openapi.format(f"graph-orderby-{collection}", order_by(SORTABLE[collection]))
    schemathesis.openapi.format(f"graph-select-{collection}", select(SELECTABLE[collection]))


# The collections whose `$count` needs `ConsistencyLevel: eventual`
# (directory objects: `count_needs_eventual` in query.rs).
DIRECTORY_COLLECTIONS = ("/users", "/groups", "/members")


@schemathesis.hook
def map_case(ctx, case):
    """Two rules of the collections that no OpenAPI parameter can state.

    `$skiptoken` is opaque: the server issues it inside `@odata.nextLink`
    (signed, bound to the collection and query) and refuses any other
    value, so a made-up one is never sent. `$count=true` on directory
    objects needs the header `ConsistencyLevel: eventual` (Graph's
    "advanced query" rule, which the document describes, with `eventual`
    as the header's example): without it, `$count` is left out. (Setting
    the header instead would break schemathesis's cases that leave out
    `Authorization`: the command line's header comes back with it.)
    """
    query = case.query
    if not query:
        return case
    query.pop("$skiptoken", None)
    counting = str(query.get("$count", "")).lower() == "true"
    if counting and case.operation.path.endswith(DIRECTORY_COLLECTIONS):
        level = (case.headers or {}).get("ConsistencyLevel", "")
        if str(level).strip().lower() != "eventual":
            query.pop("$count")
    return case
