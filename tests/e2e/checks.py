"""Assertion helpers shared by the e2e suites, so that a change in how a
failure is reported touches one function: the DSP0200 status codes the
suites expect, `cim_error`/`expect_cim_error` for "this call fails with CIM
status X and a description naming Y", and `ok`/`fails`/`usage` for the exit
status and messages of `iiadm` runs."""
import contextlib

import pytest
from pywbem import CIMError

CIM_ERR_FAILED = 1
CIM_ERR_ACCESS_DENIED = 2
CIM_ERR_INVALID_PARAMETER = 4
CIM_ERR_INVALID_CLASS = 5
CIM_ERR_NOT_FOUND = 6
CIM_ERR_ALREADY_EXISTS = 11


@contextlib.contextmanager
def cim_error(codes, *words, note=None):
    """Asserts that the block raises a CIMError whose status code is `codes`
    (or one of them, given a tuple; None accepts any) and whose description
    contains every one of `words`. Yields pytest's ExceptionInfo, so the block's
    caller can look at the error afterwards."""
    with pytest.raises(CIMError) as e:
        yield e
    code, desc = e.value.status_code, e.value.status_description
    if codes is not None:
        allowed = codes if isinstance(codes, tuple) else (codes,)
        assert code in allowed, (note, code, desc)
    for word in words:
        assert word in desc, (note, word, desc)


def expect_cim_error(fn, codes, *words, note=None):
    """`cim_error` for one call: runs `fn()`; returns the CIMError."""
    with cim_error(codes, *words, note=note) as e:
        fn()
    return e.value


def ok(res):
    """An `iiadm` run that succeeded; returns its standard output."""
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr}"
    return res.stdout


def fails(res, *needles):
    """An `iiadm` operation failure: exit 1, standard error naming every
    one of `needles`; returns standard error."""
    assert res.returncode == 1, f"exit {res.returncode}: {res.stdout} {res.stderr}"
    for n in needles:
        assert n in res.stderr, (n, res.stderr)
    return res.stderr


def usage(res):
    """An `iiadm` usage error: exit 2 with a message."""
    assert res.returncode == 2, f"exit {res.returncode}: {res.stdout} {res.stderr}"
    assert res.stderr.strip()
