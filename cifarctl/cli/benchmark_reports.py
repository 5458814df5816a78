"""What `cifarctl benchmark-gpu` prints: the machine it ran on and the step times by width."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def machine_line(machine: dict, unavailable: dict[str, str]) -> str:
    gpus = ", ".join(machine["gpus"]) or f"none, {unavailable.get('cuda', 'not requested')}"
    return (f"CPU: {machine['cpu']} ({machine['cpu_threads']} threads) · GPU: {gpus} · "
            f"torch {machine['torch']} ({machine['torch_build']})")


UNSTABLE_MARK = "!"


def benchmark_table(results, devices, unavailable: dict[str, str], model_title: str = "Net") -> Table:
    table = Table(title=f"Training step time of {model_title} by width (median of repeats)", title_justify="left")
    if any(timing.unstable for timing in results):
        table.caption = f"{UNSTABLE_MARK} unstable measurement: see the warnings below"
        table.caption_justify = "left"
    table.add_column("width", justify="right")
    table.add_column("params", justify="right")
    table.add_column("CPU ms/step", justify="right")
    table.add_column("CPU img/s", justify="right")
    names = [str(device) for device in devices]
    for name in names:
        table.add_column(f"{name} ms/step", justify="right")
        table.add_column(f"{name} img/s", justify="right")
        table.add_column("speed-up", justify="right")
    if not names:
        table.add_column("GPU", justify="center")
    by_key = {(timing.width, timing.device): timing for timing in results}
    for width in dict.fromkeys(timing.width for timing in results):
        cpu = by_key[(width, "cpu")]
        row = [str(width), f"{cpu.params:,}", _ms(cpu), f"{cpu.images_per_second:,.0f}"]
        for name in names:
            timing = by_key[(width, name)]
            speedup = cpu.ms_per_step / timing.ms_per_step
            row += [_ms(timing), f"{timing.images_per_second:,.0f}",
                    Text(f"{speedup:.1f}x", style="green" if speedup > 1 else "red")]
        if not names:
            row.append(Text("n/a", style="dim"))
        table.add_row(*row)
    return table


def _ms(timing) -> Text:
    text = f"{timing.ms_per_step:.3f} ({timing.ms_per_step_min:.3f}-{timing.ms_per_step_max:.3f})"
    if timing.unstable:
        return Text(f"{text} {UNSTABLE_MARK}", style="yellow")
    return Text(text)
