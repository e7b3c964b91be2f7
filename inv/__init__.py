"""The application shell: the `inv` command line, settings, logging and the offline demo.

It sits on top of the libraries and wires them together: `bot` (the Telegram front) over
`engine` (the method, labels, global explanations, rebuild and report) over `storage` (tables,
sessions, export, migrations).
"""
