"""Message templates per kind, in Chinese and English; the recipient's locale picks one
(Chinese when unknown); admins may reword a kind with the same variables. Pure."""
from string import Formatter

TEMPLATES = {
    "collaborator_added": {
        "zh-CN": ("行动计划协作邀请", "你已被加入行动计划「{title}」（{period}）的协作人。"),
        "en": ("Added to an action plan", "You were added as a collaborator of the action "
                                          "plan \"{title}\" ({period})."),
    },
    "collaborator_added_manager": {
        "zh-CN": ("下属的行动计划新增协作人", "行动计划「{title}」（{period}）新增了协作人。"),
        "en": ("A collaborator joined your report's plan", "The action plan \"{title}\" "
                                                            "({period}) has a new collaborator."),
    },
    "inspection_submitted": {
        "zh-CN": ("渠道点检单待审核",
                  "{partner_name} {month} 的渠道点检单已提交，共 {line_count} 行。"),
        "en": ("Inspection form to review", "The channel inspection form of {partner_name} "
                                            "for {month} was submitted ({line_count} lines)."),
    },
    "inspection_reviewed": {
        "zh-CN": ("渠道点检单已审核", "{partner_name} {month} 的渠道点检单已审核通过。"),
        "en": ("Inspection form reviewed", "The channel inspection form of {partner_name} "
                                           "for {month} was reviewed."),
    },
    "visit_assigned": {
        "zh-CN": ("新的拜访任务", "你有一个新的拜访任务，计划时间 {planned_at}。"),
        "en": ("New visit assigned", "A visit was planned for you at {planned_at}."),
    },
    "fraud_signal": {
        "zh-CN": ("拜访异常提醒", "下属的拜访 {visit_id} 出现异常：{kind}。"),
        "en": ("Visit anomaly", "Visit {visit_id} of your report raised a signal: {kind}."),
    },
    "customer_transferred": {
        "zh-CN": ("客户已转交给你", "客户 {customer_id} 已转交给你负责。"),
        "en": ("Customer handed to you", "Customer {customer_id} is now yours."),
    },
    "reminder": {
        "zh-CN": ("提醒：{subject}", "{subject}（到期 {due_at}）"),
        "en": ("Reminder: {subject}", "{subject} (due {due_at})"),
    },
    "inspection_push": {
        "zh-CN": ("请填写本月渠道点检单",
                  "{partner_name} {month} 的渠道点检单还未提交，请尽快填写明细。"),
        "en": ("Fill in this month's inspection form", "The channel inspection form of "
                                                        "{partner_name} for {month} is still "
                                                        "open; please fill in its lines."),
    },
    "report_submitted": {
        "zh-CN": ("下属提交了报表", "{sender_name} 提交了 {month} 的{report}报表：{note}"),
        "en": ("A report was sent to you", "{sender_name} sent you the {report} report of "
                                           "{month}: {note}"),
    },
    "report_commented": {
        "zh-CN": ("报表有新批注", "{author_name} 对 {month} 的{report}报表批注：{text}"),
        "en": ("A comment on a report", "{author_name} commented on the {report} report of "
                                        "{month}: {text}"),
    },
    "ticket_dispatched": {
        "zh-CN": ("新的维修工单",
                  "工单 {ticket_id}（{priority}）已派给你们，请在 {due_at} 前处理：{fault}"),
        "en": ("New repair ticket", "Ticket {ticket_id} ({priority}) was dispatched to you; "
                                    "due {due_at}: {fault}"),
    },
    "ticket_sla_warning": {
        "zh-CN": ("工单即将超时",
                  "工单 {ticket_id}（{priority}）将于 {due_at} 到期，当前状态 {status}。"),
        "en": ("Ticket due soon", "Ticket {ticket_id} ({priority}) is due at {due_at} and is "
                                  "still {status}."),
    },
    "ticket_sla_breached": {
        "zh-CN": ("工单已超时",
                  "工单 {ticket_id}（{priority}）已超过处理时限 {due_at}，当前状态 {status}。"),
        "en": ("Ticket overdue", "Ticket {ticket_id} ({priority}) passed its due time {due_at} "
                                 "while {status}."),
    },
    "parts_order_approved": {
        "zh-CN": ("备件订单已批准", "备件订单 {order_id}（{lines} 项）已批准，库存已预留。"),
        "en": ("Parts order approved", "Parts order {order_id} ({lines} lines) was approved; "
                                       "the stock is reserved."),
    },
    "parts_order_rejected": {
        "zh-CN": ("备件订单被驳回", "备件订单 {order_id}（{lines} 项）被驳回。"),
        "en": ("Parts order rejected", "Parts order {order_id} ({lines} lines) was rejected."),
    },
    "parts_order_cancelled": {
        "zh-CN": ("备件订单已取消", "备件订单 {order_id}（{lines} 项）已被取消，预留库存已释放。"),
        "en": ("Parts order cancelled", "Parts order {order_id} ({lines} lines) was cancelled; "
                                        "its reserved stock is released."),
    },
    "parts_order_shipped": {
        "zh-CN": ("备件已发货", "备件订单 {order_id}（{lines} 项）已发货，请收货后确认。"),
        "en": ("Parts shipped", "Parts order {order_id} ({lines} lines) was shipped; confirm "
                                "when it arrives."),
    },
}
DEFAULT_LOCALE = "zh-CN"


class _Blank(dict):
    def __missing__(self, key):
        return "—"


LOCALES = ("zh-CN", "en")


def placeholders(text: str) -> set[str]:
    """The `{name}`s of a template; ValueError when it is not a valid format string."""
    return {name for _, name, spec, conversion in Formatter().parse(text)
            if name is not None}


def variables(kind: str) -> set[str]:
    """What a kind's notices carry: the names its shipped templates use."""
    return set().union(*(placeholders(title) | placeholders(body)
                         for title, body in TEMPLATES[kind].values()))


def wording_problems(kind: str, title: str, body: str) -> dict[str, list[str]]:
    """Why an admin's wording of `kind` cannot be used (empty when it can)."""
    known, problems = variables(kind), {}
    for field, text in (("title", title), ("body", body)):
        try:
            parsed = [(name, spec, conversion) for _, name, spec, conversion
                      in Formatter().parse(text) if name is not None]
        except ValueError as exc:
            problems[field] = [f"not a valid template: {exc}"]
            continue
        if any(spec or conversion for _, spec, conversion in parsed):
            # A format spec can fail on the value it meets (a date spec on text).
            problems[field] = ["use plain {name} placeholders, without formats"]
            continue
        names = {name for name, _, _ in parsed}
        bad = sorted(n for n in names if n not in known or not n.isidentifier())
        if bad:
            problems[field] = [f"unknown variable {{{bad[0]}}}; this kind has "
                               f"{', '.join(sorted(known)) or 'none'}"]
    return problems


def render(kind: str, locale: str | None, values: dict,
           wording: dict | None = None) -> tuple[str, str]:
    """(title, body) in the recipient's language, an admin's wording first; a value
    missing from the event shows as a dash, never an error."""
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    by_locale = TEMPLATES[kind]
    title, body = (wording or {}).get(locale) or by_locale.get(locale,
                                                              by_locale[DEFAULT_LOCALE])
    return title.format_map(_Blank(values)), body.format_map(_Blank(values))
