"""Charts of the key reports as PNG or SVG (matplotlib, Agg: no display needed).

Chinese labels need a CJK font. The first one found among well-known families (or the
file named by CRM_CHART_FONT) is used; without one, Chinese text would draw as empty
boxes, so titles fall back to English and any label the font cannot draw is replaced by
its id (`#12`) or a numbered stand-in, and `cjk_font()` says which case is in force."""
import functools
import io
import logging

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from crmkit.settings import env  # noqa: E402

log = logging.getLogger(__name__)

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei",
                "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK JP", "AR PL UMing CN")
MAX_BARS = 30
TITLES = {  # report -> (Chinese, English)
    "channels": ("渠道报表 {month} 金额(按{group})", "Channel report {month}: amount by {group}"),
    "visits": ("拜访报表 {month} 完成与目标", "Visits {month}: completed vs target"),
    "tickets": ("售后报表 {month} 工单状态", "Tickets {month} by status"),
}
GROUPS = {"partner": ("渠道商", "partner"), "owner": ("负责人", "owner"),
          "hq": ("组织单元", "org unit")}
LEGENDS = {"completed": ("已完成", "completed"), "target": ("有效目标", "target"),
           "tickets": ("工单数", "tickets")}


@functools.cache
def cjk_font() -> str | None:
    """The family drawn for Chinese text, or None when this machine has no CJK font."""
    path = env.str("CRM_CHART_FONT", None)
    if path:
        try:
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):
            log.warning("CRM_CHART_FONT %s is not a readable font; looking for others", path)
    installed = {font.name for font in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    log.warning("no CJK font found: charts use English titles and ids for Chinese labels")
    return None


def _text(chinese: str, english: str) -> str:
    return chinese if cjk_font() else english


def _label(text: str, stand_in: str) -> str:
    return text if cjk_font() or text.isascii() else stand_in


def _apply_font(figure: Figure) -> None:
    font = cjk_font()
    if not font:
        return
    for text in figure.findobj(lambda artist: hasattr(artist, "set_fontfamily")):
        text.set_fontfamily([font, "DejaVu Sans"])


def bars(report: dict):
    """(title, labels, series {legend: values}, stacked)."""
    month = report["month"]
    if report["report"] == "channels":
        group = GROUPS[report["group_by"]]
        rows = report["rows"][:MAX_BARS]
        types = report["product_types"]
        series = {}
        for index, product_type in enumerate(types):
            amounts = [{c["product_type"]: float(c["amount"]) for c in r["by_product_type"]}
                       .get(product_type, 0.0) for r in rows]
            series[_label(product_type, f"type {index + 1}")] = amounts
        title = _text(*TITLES["channels"]).format(month=month, group=_text(*group))
        labels = [_label(str(r["label"]), f"#{r['key']}") for r in rows]
        return title, labels, series, True
    if report["report"] == "visits":
        rows = report["rows"][:MAX_BARS]
        series = {_text(*LEGENDS["completed"]): [r["completed"] for r in rows],
                  _text(*LEGENDS["target"]): [r["effective_target"] or 0 for r in rows]}
        labels = [_label(r["name"], f"#{r['user_id']}") for r in rows]
        return _text(*TITLES["visits"]).format(month=month), labels, series, False
    rows = report["by_status"]
    series = {_text(*LEGENDS["tickets"]): [r["tickets"] for r in rows]}
    labels = [r["status"] for r in rows]
    return _text(*TITLES["tickets"]).format(month=month), labels, series, False


def render(report: dict, fmt: str) -> bytes:
    title, labels, series, stacked = bars(report)
    figure = Figure(figsize=(10, 5.5), dpi=100)
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    width = 0.8 if stacked else 0.8 / max(1, len(series))
    bottom = [0.0] * len(labels)
    for index, (legend, values) in enumerate(series.items()):
        if stacked:
            axes.bar(positions, values, width, bottom=bottom, label=legend)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        else:
            offset = (index - (len(series) - 1) / 2) * width
            axes.bar([p + offset for p in positions], values, width, label=legend)
    axes.set_title(title)
    axes.set_xticks(positions, labels, rotation=30 if len(labels) > 6 else 0, ha="right"
                    if len(labels) > 6 else "center")
    if series and labels:
        axes.legend(fontsize="small")
    _apply_font(figure)
    figure.set_layout_engine("tight")
    buffer = io.BytesIO()
    # No date in the SVG: the same figures give the same file.
    figure.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()
