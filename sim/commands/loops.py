"""``sim loops MODEL.mdl``: the feedback loops and their dominance over time."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "loops", help="feedback loops and their relative scores over time (Loops That Matter)",
        description="Find the feedback loops of a model and score them over one Euler run "
                    "(Schoenberg, Davidsen & Eberlein 2020): prints the loops, strongest first; "
                    "with --out also loops.csv and loops.png. Loop names come from "
                    "NAME.loops.yaml beside the model (or --names FILE).")
    p.add_argument("model", help="path to a Vensim .mdl file or an XMILE .xmile/.stmx file")
    p.add_argument("--variable", metavar="NAME",
                   help="only the loops through this variable (relative scores among them)")
    p.add_argument("--names", metavar="FILE",
                   help="loop names (default: NAME.loops.yaml beside the model, if any)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a constant for the run (repeatable)")
    p.add_argument("--final-time", type=float, default=None)
    p.add_argument("--top", type=int, default=None, help="print only the N strongest loops")
    p.add_argument("--out", metavar="DIR", help="also write DIR/loops.csv and DIR/loops.png")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.out:
        from sim.extras import require
        require("matplotlib", "sim loops --out (its chart)")
    from sim.commands.simulate import parse_sets
    from sim.engine.model import load_model
    from sim.io import atomic_write_bytes, atomic_write_text
    from sim.loops.names import default_path, load_loop_names
    from sim.loops.output import loops_csv, loops_png, loops_table
    from sim.loops.scores import analyse_loops

    model = load_model(args.model)
    params = parse_sets(args.set)
    names_path = Path(args.names) if args.names else default_path(args.model)
    names = load_loop_names(names_path, model) if (args.names or names_path.exists()) else None
    if args.variable is not None:
        model.py_name(args.variable)  # unknown: ParameterError naming close names
    analysis = analyse_loops(model, params=params or None, final_time=args.final_time,
                             variable=args.variable, names=names)
    print(loops_table(analysis, args.top))
    if args.out:
        out = Path(args.out)
        atomic_write_text(out / "loops.csv", loops_csv(analysis))
        atomic_write_bytes(out / "loops.png", loops_png(analysis, Path(args.model).name))
        print(f"wrote {out}/loops.csv and {out}/loops.png")
    return 0
