"""Entry point of `python -m swarmlet`, of the zipapp's entry point, and the zipapp's own `__main__.py`.

build.sh copies this file to the root of dist/swarmlet, where it runs before shiv's bootstrap:
it must parse on old interpreters (no newer syntax), so that they get one line instead of a
traceback, and it picks where shiv unpacks the bundled libraries before any unpacking happens.
"""

import os
import stat
import sys

MIN_PYTHON = (3, 11)


def _fail(message):
    sys.stderr.write("swarmlet: %s\n" % message)
    sys.exit(1)


def require_python():
    """Exit with one line on an interpreter older than MIN_PYTHON."""
    if sys.version_info < MIN_PYTHON:
        sys.stderr.write(
            "swarmlet requires Python %d.%d or newer; this is Python %d.%d (%s)\n"
            % (MIN_PYTHON + tuple(sys.version_info[:2]) + (sys.executable,))
        )
        sys.exit(1)


def _writable_dir(path):
    try:
        os.makedirs(path, 0o700, exist_ok=True)
    except OSError:
        return False
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _private_dir(path):
    """Create `path` for this user only, refusing one that someone else made or can write."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        _fail("cannot create %s (%s); set SHIV_ROOT to a writable folder" % (path, exc.strerror))
    info = os.lstat(path)
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or info.st_mode & 0o077
        or not os.access(path, os.W_OK | os.X_OK)
    ):
        _fail("%s is not a private folder of this user; set SHIV_ROOT to a writable folder" % path)
    return path


def choose_extraction_root(environ):
    """Set SHIV_ROOT when shiv's default (~/.shiv) cannot be written: service users, read-only
    or missing home folders get a per-user folder under the temporary directory instead."""
    if environ.get("SHIV_ROOT"):
        return environ["SHIV_ROOT"]
    home_root = os.path.expanduser("~/.shiv")
    if not home_root.startswith("~") and _writable_dir(home_root):
        return home_root
    import tempfile

    root = _private_dir(os.path.join(tempfile.gettempdir(), "swarmlet-shiv-%d" % os.getuid()))
    environ["SHIV_ROOT"] = root
    return root


def main():
    require_python()
    from swarmlet.cli.main import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


def zipapp_main():
    """Run as the zipapp's top-level `__main__.py`: check, choose SHIV_ROOT, then let shiv
    unpack the libraries and call `main` through the entry point recorded in the archive."""
    require_python()
    choose_extraction_root(os.environ)
    import _bootstrap

    _bootstrap.bootstrap()


if __name__ == "__main__":
    import zipimport

    if isinstance(__loader__, zipimport.zipimporter) and not __package__:
        zipapp_main()  # the archive's own __main__.py
    else:
        main()  # python -m swarmlet
