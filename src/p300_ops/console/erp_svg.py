"""A subject/session's ERP as inline SVG: one small panel per channel, the mean target epoch
against the mean non-target epoch (µV over s), on one amplitude scale for all channels so that
panels compare."""

from html import escape

import numpy as np

from p300_ops.services.subject_features import SessionErp

PANEL_W, PANEL_H, COLUMNS, GAP = 190.0, 110.0, 4, 10.0
#: Inner margins of a panel: left, top, right, bottom (px).
MARGIN = (6.0, 18.0, 6.0, 14.0)


def render(erp: SessionErp) -> str:
    n = len(erp.ch_names)
    rows = -(-n // COLUMNS)
    width = COLUMNS * (PANEL_W + GAP)
    height = rows * (PANEL_H + GAP)
    scale = _scale(erp)
    panels = [
        _panel(erp, channel, (i % COLUMNS) * (PANEL_W + GAP), (i // COLUMNS) * (PANEL_H + GAP),
               scale)
        for i, channel in enumerate(erp.ch_names)
    ]  # fmt: skip
    legend = (
        f"<text class='legend' x='0' y='{height + 14:.0f}'>target (red) vs non-target (blue), "
        f"µV; each panel ±{scale:.1f} µV, {erp.times_s[0]:.2f} to {erp.times_s[-1]:.2f} s, "
        "line at the flash (0 s)</text>"
    )
    return (
        f'<svg class="erp" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height + 20:.0f}" viewBox="0 0 {width:.0f} {height + 20:.0f}">'
        f"{''.join(panels)}{legend}</svg>"
    )


def _scale(erp: SessionErp) -> float:
    """Half the amplitude range every panel shows, µV (the largest mean deflection)."""
    peak = np.nanmax(np.abs(np.concatenate([erp.target, erp.nontarget])), initial=0.0)
    return float(peak) if peak > 0 else 1.0


def _panel(erp: SessionErp, channel: str, x: float, y: float, scale: float) -> str:
    left, top, right, bottom = MARGIN
    w, h = PANEL_W - left - right, PANEL_H - top - bottom
    times = erp.times_s
    span = float(times[-1] - times[0]) or 1.0

    def px(t: float) -> float:
        return x + left + (t - times[0]) / span * w

    def py(v: float) -> float:
        return y + top + h / 2 - v / scale * (h / 2)

    index = erp.ch_names.index(channel)
    lines = []
    for name, means in (("nontarget", erp.nontarget), ("target", erp.target)):
        values = means[index]
        if np.all(np.isnan(values)):
            continue
        points = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in zip(times, values, strict=True))
        lines.append(f'<polyline class="{name}" points="{points}"/>')
    zero = px(0.0) if times[0] <= 0 <= times[-1] else None
    onset = (
        f'<line class="onset" x1="{zero:.1f}" y1="{y + top:.1f}" x2="{zero:.1f}" '
        f'y2="{y + top + h:.1f}"/>'
        if zero is not None
        else ""
    )
    return (
        f'<g class="channel" data-channel="{escape(channel)}">'
        f'<rect class="panel" x="{x:.1f}" y="{y:.1f}" width="{PANEL_W:.0f}" '
        f'height="{PANEL_H:.0f}"/>'
        f'<text class="channel-name" x="{x + left:.1f}" y="{y + 13:.1f}">{escape(channel)}</text>'
        f'<line class="zero" x1="{x + left:.1f}" y1="{py(0):.1f}" x2="{x + left + w:.1f}" '
        f'y2="{py(0):.1f}"/>{onset}{"".join(lines)}</g>'
    )
