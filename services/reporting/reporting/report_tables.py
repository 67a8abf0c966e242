"""A report as tables with Chinese headers, the shape both exports write (CSV: one table
after another; XLSX: one sheet each). Pure."""
from dataclasses import dataclass, field

GROUP_TITLES = {"partner": "渠道商", "owner": "渠道负责人", "hq": "组织单元"}
STATUS_TITLES = {"new": "新建", "assigned": "已派单", "diagnosing": "检测中",
                 "waiting_parts": "待料", "repairing": "维修中", "done": "已修复",
                 "closed": "已关闭", "cancelled": "已取消"}
FRAUD_TITLES = {"outside_radius": "超出签到范围", "impossible_speed": "移动速度异常",
                "photo_reused": "照片重复", "photo_time_skew": "照片时间异常"}


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)


def _channels(report: dict) -> list[Table]:
    types = report["product_types"]
    headers = [GROUP_TITLES[report["group_by"]], "编号"]
    for product_type in types:
        headers += [f"{product_type} 数量", f"{product_type} 金额"]
    headers += ["合计数量", "合计金额", "明细行数", "草稿", "已提交", "已审核", "渠道占比(%)"]

    def line(row, label, key):
        cells = {c["product_type"]: c for c in row["by_product_type"]}
        values = [label, key]
        for product_type in types:
            cell = cells.get(product_type)
            values += [cell["quantity"], cell["amount"]] if cell else [0, "0.00"]
        forms = row["forms"]
        return values + [row["quantity"], row["amount"], row["line_count"], forms["draft"],
                         forms["submitted"], forms["reviewed"], row["channel_share"] or ""]
    rows = [line(r, r["label"], r["key"]) for r in report["rows"]]
    rows.append(line(report["totals"], "合计", ""))
    return [Table(f"渠道报表 {report['month']}", headers, rows)]


def _visits(report: dict) -> list[Table]:
    kinds = sorted({k for r in report["rows"] for k in r["fraud_by_kind"]})
    headers = ["员工", "编号", "计划拜访", "已签到", "已完成", "目标", "有效目标", "完成率",
               "已拜访门店", "本单元门店", "门店覆盖率", "异常信号"]
    headers += [FRAUD_TITLES.get(k, k) for k in kinds]
    rows = [[r["name"], r["user_id"], r["planned"], r["checked_in"], r["completed"],
             _blank(r["target"]), _blank(r["effective_target"]), _blank(r["progress"]),
             r["stores_visited"], r["unit_stores"], _blank(r["coverage"]), r["fraud_signals"],
             *(r["fraud_by_kind"].get(k, 0) for k in kinds)] for r in report["rows"]]
    t = report["totals"]
    rows.append(["合计", "", t["planned"], t["checked_in"], t["completed"], "",
                 t["effective_target"], _blank(t["progress"]), t["stores_visited"], "", "",
                 t["fraud_signals"], *("" for _ in kinds)])
    return [Table(f"拜访报表 {report['month']}", headers, rows)]


def _tickets(report: dict) -> list[Table]:
    figures = ["工单数", "未完结", "超时(SLA)", "平均修复时长(小时)", "已回访", "满意度"]
    keys = ["opened", "open", "sla_breached", "mttr_hours", "surveys_answered",
            "satisfaction"]
    t = report["totals"]
    return [
        Table(f"售后报表 {report['month']}", ["指标", "数值"],
              [[title, _blank(t[k])] for title, k in zip(figures, keys, strict=True)]
              + [["备件消耗", t["parts_used"]]]),
        Table("按状态", ["状态", "工单数"],
              [[STATUS_TITLES.get(r["status"], r["status"]), r["tickets"]]
               for r in report["by_status"]]),
        Table("按区域", ["区域", *figures],
              [[r["region"], *(_blank(r[k]) for k in keys)] for r in report["by_region"]]),
        Table("故障代码排行", ["型号", "故障代码", "工单数"],
              [[r["model"], r["fault_code"], r["tickets"]] for r in report["top_fault_codes"]]),
        Table("备件消耗", ["备件编号", "数量"],
              [[r["part_id"], r["quantity"]] for r in report["parts_used"]]),
        Table("备件订单", ["状态", "订单数"],
              [[r["status"], r["orders"]] for r in report["parts_orders"]]),
    ]


def _blank(value):
    return "" if value is None else value


TABLES = {"channels": _channels, "visits": _visits, "tickets": _tickets}


def tables_of(report: dict) -> list[Table]:
    return TABLES[report["report"]](report)
