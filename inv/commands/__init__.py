"""The subcommands of `inv`, one module each: `HELP`, `add_arguments(parser)`, `run(args)`."""
