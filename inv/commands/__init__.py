"""The subcommands of `inv`, one module each: `HELP`, `add_arguments(parser)`, `run(args)`.

`out_file` is no subcommand: it holds the `--out FILE` option that `export` and `report` share.
"""
