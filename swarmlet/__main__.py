"""Entry point of the zipapp and of `python -m swarmlet`.

Kept free of newer syntax so that an old interpreter reaches the version check and
prints one line instead of a traceback.
"""

import sys

MIN_PYTHON = (3, 11)


def main():
    if sys.version_info < MIN_PYTHON:
        sys.stderr.write(
            "swarmlet requires Python %d.%d or newer; this is Python %d.%d (%s)\n"
            % (MIN_PYTHON + sys.version_info[:2] + (sys.executable,))
        )
        sys.exit(1)
    from swarmlet.cli.main import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
