"""Certificate helpers for identity tests, on the real openssl CLI (stdlib only)."""

import os
import subprocess
import tempfile

from harness import make_scratch_dir


def split_pem(text):
    """The certificates of a PEM bundle, each as its own PEM text."""
    marker = "-----END CERTIFICATE-----"
    return [part.strip() + "\n" + marker + "\n" for part in text.split(marker) if part.strip()]


def openssl_verify(chain, bundle):
    """(ok, output) of `openssl verify` of the chain's leaf, with its intermediates, against
    the roots in `bundle`."""
    work = tempfile.mkdtemp(dir=make_scratch_dir("verify"))
    certs = split_pem(chain)
    paths = {}
    for name, text in (("leaf", certs[0]), ("rest", "".join(certs[1:]) or certs[0]),
                       ("bundle", bundle)):
        paths[name] = os.path.join(work, name + ".pem")
        with open(paths[name], "w", encoding="utf-8") as f:
            f.write(text)
    result = subprocess.run(["openssl", "verify", "-CAfile", paths["bundle"], "-untrusted",
                             paths["rest"], paths["leaf"]], capture_output=True, text=True,
                            check=False)
    return result.returncode == 0, result.stdout + result.stderr
