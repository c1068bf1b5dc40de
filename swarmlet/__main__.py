"""Entry point of `python -m swarmlet`, of the zipapp's entry point, and the zipapp's own `__main__.py`.

build.sh copies this file to the root of dist/swarmlet, where it runs before shiv's bootstrap:
it must parse on old interpreters (no newer syntax), so that they get one line instead of a
traceback; it picks where shiv unpacks the bundled libraries before any unpacking happens; and
once they are unpacked it uses them directly, sparing every command shiv's start-up (opening the
archive's directory again, reading its settings, importing its helpers).
"""

import os
import stat
import sys

MIN_PYTHON = (3, 11)
# The archive's shiv build id; build.sh writes it into the archive's copy of this file.
SHIV_BUILD_ID = None


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


def _is_own_dir(path, private):
    """A real folder of this user that nobody else can write (or, if `private`, even read):
    code is imported from it."""
    info = os.lstat(path)
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (0o077 if private else 0o022)
        and os.access(path, os.W_OK | os.X_OK)
    )


def _home_root(path):
    """Whether shiv's default ~/.shiv can be used (created if missing)."""
    try:
        os.makedirs(path, 0o700, exist_ok=True)
        return _is_own_dir(path, private=False)
    except OSError:
        return False


def _private_dir(path):
    """Create `path` for this user only, refusing one that someone else made or can enter."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        _fail("cannot create %s (%s); set SHIV_ROOT to a writable folder" % (path, exc.strerror))
    if not _is_own_dir(path, private=True):
        _fail("%s is not a private folder of this user; set SHIV_ROOT to a writable folder" % path)
    return path


def choose_extraction_root(environ):
    """Set SHIV_ROOT when shiv's default (~/.shiv) will not do: service users and read-only or
    missing homes, and a home that belongs to someone else (root with a user's HOME), get a
    per-user folder under the temporary directory instead."""
    if environ.get("SHIV_ROOT"):
        return environ["SHIV_ROOT"]
    home_root = os.path.expanduser("~/.shiv")
    if not home_root.startswith("~") and _home_root(home_root):
        return home_root
    import tempfile

    root = _private_dir(os.path.join(tempfile.gettempdir(), "swarmlet-shiv-%d" % os.geteuid()))
    environ["SHIV_ROOT"] = root
    return root


def main():
    require_python()
    from swarmlet.cli.main import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


def unpacked_site_packages(root, archive, environ):
    """The folder where shiv already unpacked this build's libraries (shiv's layout:
    ROOT/<archive file name>_<build id>/site-packages, renamed into place only when complete),
    or None when shiv's bootstrap has work to do: first run, or a SHIV_* variable that asks for
    one of its other behaviours."""
    if SHIV_BUILD_ID is None or any(k.startswith("SHIV_") and k != "SHIV_ROOT" for k in environ):
        return None
    name = "%s_%s" % (os.path.basename(os.path.realpath(archive)), SHIV_BUILD_ID)
    path = os.path.join(os.path.expanduser(root), name, "site-packages")
    return path if os.path.isdir(path) else None


def _add_site_packages(path):
    """Put `path` before the interpreter's own site-packages, as shiv's bootstrap does."""
    import site

    length = len(sys.path)
    index = next(
        (
            i
            for i, p in enumerate(sys.path)
            if os.path.basename(p) in ("site-packages", "dist-packages")
        ),
        length,
    )
    site.addsitedir(path)
    sys.path[:] = sys.path[:index] + sys.path[length:] + sys.path[index:length]


def zipapp_main():
    """Run as the zipapp's top-level `__main__.py`: check, choose SHIV_ROOT, then run `main`
    from the unpacked libraries, letting shiv's bootstrap unpack them first if needed."""
    require_python()
    root = choose_extraction_root(os.environ)
    site_packages = unpacked_site_packages(root, sys.argv[0], os.environ)
    if site_packages:
        _add_site_packages(site_packages)
        main()  # exits
    import _bootstrap

    _bootstrap.bootstrap()


if __name__ == "__main__":
    import zipimport

    if isinstance(__loader__, zipimport.zipimporter) and not __package__:
        zipapp_main()  # the archive's own __main__.py
    else:
        main()  # python -m swarmlet
