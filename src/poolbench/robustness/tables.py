"""Text tables in the layout of Tables 2 and 3 of the closed-form pooling paper (Birodkar et al.
2019): corruptions as columns, per model one row per severity and a CE row; perturbations as
columns, per model one flip-probability row per difficulty and an FR row. The 15 / 10 benchmark
columns and the extras are printed as separate tables, and every mean names its count."""

from __future__ import annotations

from . import corruptions, perturbations

SHORT = {
    "gaussian_noise": "gauss",
    "shot_noise": "shot",
    "impulse_noise": "impul",
    "defocus_blur": "defoc",
    "glass_blur": "glass",
    "motion_blur": "motn",
    "zoom_blur": "zoom",
    "snow": "snow",
    "frost": "frost",
    "fog": "fog",
    "brightness": "brigh",
    "contrast": "contr",
    "elastic_transform": "elast",
    "pixelate": "pixel",
    "jpeg_compression": "jpeg",
    "speckle_noise": "speck",
    "gaussian_blur": "gblur",
    "spatter": "spatt",
    "saturate": "satur",
    "translate": "trans",
    "rotate": "rot",
    "tilt": "tilt",
    "scale": "scale",
    "shear": "shear",
}
W = 7


def _cell(v: float | None, digits: int = 1) -> str:
    return f"{'undef' if v is None else f'{v:.{digits}f}':>{W}}"


def _head(label: str, names: list[str]) -> str:
    return f"{label:<22}" + "".join(f"{SHORT.get(n, n[:6]):>{W}}" for n in names)


def _mean_line(what: str, value: float | None, over: int, present: int, of: int, kind: str) -> str:
    v = "undefined" if value is None else f"{value:.1f}"
    undefined = f", {present - over} undefined" if present > over else ""
    return (
        f"{what} {v}: mean over {over} {kind} ({present} of the {of} benchmark {kind} measured{undefined}; "
        f"extras excluded; 100 = the baseline)"
    )


def _models(res: dict, base: dict | None):
    """(row label, measurement): the run, then the baseline (their ids are printed above the tables)."""
    return [("run", res)] + ([("baseline", base)] if base else [])


def corruption_table(res: dict, base: dict | None, cmp: dict | None, names: list[str]) -> list[str]:
    sev = [str(s) for s in res["settings"]["severities"]]
    lines = [_head("model / severity", names)]
    for tag, model in _models(res, base):
        for i, s in enumerate(sev):
            label = f"{tag if i == 0 else '':<18}{s:>4}"
            lines.append(label + "".join(_cell(model["errors"][n][s]) for n in names))
    if cmp and "corruption" in cmp:
        per = cmp["corruption"]["per_corruption"]
        lines.append(f"{'CE':<22}" + "".join(_cell(per[n]["ce"]) for n in names))
        lines.append(f"{'relative CE':<22}" + "".join(_cell(per[n]["relative_ce"]) for n in names))
    return lines


def perturbation_table(res: dict, base: dict | None, cmp: dict | None, names: list[str]) -> list[str]:
    lines = [_head("model / difficulty", names)]
    depth = max(len(perturbations.files_of(n)) for n in names)
    for tag, model in _models(res, base):
        fp = model["perturbation"]["flip_probability"]
        for d in range(depth):
            label = f"{tag if d == 0 else '':<18}{d + 1:>4}"
            cells = []
            for n in names:
                files = perturbations.files_of(n)
                cells.append(_cell(fp.get(files[d]), 2) if d < len(files) else " " * W)
            lines.append((label + "".join(cells)).rstrip())
        t5 = model["perturbation"]["top5_distance"]
        lines.append(
            f"{'  top-5 distance':<22}"
            + "".join(
                _cell(sum(t5[f] for f in perturbations.files_of(n)) / len(perturbations.files_of(n)), 3) for n in names
            )
        )
    if cmp and "flip" in cmp:
        fr = cmp["flip"]["per_perturbation"]
        lines.append(f"{'Flip Rate':<22}" + "".join(_cell(fr.get(n)) for n in names))
    return lines


def print_tables(res: dict, base: dict | None = None, cmp: dict | None = None) -> None:
    settings = res["settings"]
    print(f"run = {res['run_id']}" + (f"; baseline = {base['run_id']}" if base else ""))

    def where(key: str, src: str | None) -> str:
        return f"released set {settings[key]}" if settings.get(key) else f"generated (seed {settings['seed']}, {src})"

    if res["errors"]:
        names = list(res["errors"])
        clean = f"clean error {res['clean']:.2f}%" + (f", baseline {base['clean']:.2f}%" if base else "")
        print(
            f"Corruptions (Table 2 layout): top-1 error % on {res['n']} test images, "
            f"{where('cifar_c', res.get('corruption_source'))}; {clean}"
        )
        for title, group in (
            ("benchmark", [n for n in corruptions.STANDARD if n in names]),
            ("extras, not in mCE", [n for n in corruptions.EXTRAS if n in names]),
        ):
            if group:
                print(f"-- {title}")
                print("\n".join(corruption_table(res, base, cmp, group)))
        if cmp and "corruption" in cmp:
            c = cmp["corruption"]
            print(_mean_line("mCE", c["mCE"], c["mCE_over"], c["standard_present"], 15, "corruptions"))
            print(
                _mean_line(
                    "relative mCE", c["relative_mCE"], c["relative_mCE_over"], c["standard_present"], 15, "corruptions"
                )
            )
    if res.get("perturbation"):
        names = res["settings"]["perturbations"]
        print(
            f"Perturbations (Table 3 layout): flip probability % on {res['perturbation']['n']} sequences, "
            f"{where('cifar_p', res.get('perturbation_source'))}; noise sequences against frame 1, "
            f"the others frame to frame"
        )
        for title, group in (
            ("benchmark", [n for n in perturbations.STANDARD if n in names]),
            ("extras, not in mFR", [n for n in perturbations.EXTRAS if n in names]),
        ):
            if group:
                print(f"-- {title}")
                print("\n".join(perturbation_table(res, base, cmp, group)))
        if cmp and "flip" in cmp:
            f = cmp["flip"]
            print(_mean_line("mFR", f["mFR"], f["mFR_over"], f["standard_present"], 10, "perturbations"))
