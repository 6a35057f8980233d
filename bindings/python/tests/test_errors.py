# SPDX-License-Identifier: MIT
import importlib
import os
import re
import unittest

import shmap
from shmap import errors


class TestErrors(unittest.TestCase):
    def test_codes_are_pinned(self):
        self.assertEqual(errors.E_INVAL, -1001)
        self.assertEqual(errors.E_NOTFOUND, -1006)
        self.assertEqual(errors.E_NOTATTACHED, -1029)

    def test_error_carries_code_and_text(self):
        e = errors.error(errors.E_FULL)
        self.assertIsInstance(e, shmap.FullError)
        self.assertIsInstance(e, shmap.ShmapError)
        self.assertEqual(e.code, errors.E_FULL)
        self.assertEqual(e.name, "SHMAP_E_FULL")
        self.assertEqual(e.message, shmap.strerror(errors.E_FULL))
        self.assertIn(shmap.strerror(errors.E_FULL), str(e))

    def test_subclasses(self):
        self.assertIsInstance(errors.error(errors.E_NOTFOUND), KeyError)
        self.assertIsInstance(errors.error(errors.E_TIMEOUT), TimeoutError)
        self.assertIsInstance(errors.error(errors.E_TIMEOUT), shmap.TimeoutError)
        self.assertIsInstance(errors.error(errors.E_INCOMPAT), shmap.IncompatibleError)
        self.assertIsInstance(errors.error(errors.E_RANGE), IndexError)
        self.assertIsInstance(errors.error(errors.E_EMPTY), shmap.EmptyError)
        self.assertIsInstance(errors.error(errors.E_NOENT), FileNotFoundError)
        self.assertIsInstance(errors.error(errors.E_EXIST), FileExistsError)
        unknown = errors.error(-1999)
        self.assertIs(type(unknown), shmap.ShmapError)
        self.assertEqual(unknown.code, -1999)

    def test_check(self):
        self.assertEqual(errors.check(0), 0)
        self.assertEqual(errors.check(shmap.RECOVERED), shmap.RECOVERED)
        with self.assertRaises(shmap.BusyError):
            errors.check(errors.E_BUSY)

    def test_version(self):
        self.assertRegex(shmap.version(), r"^\d+\.\d+\.\d+")
        self.assertGreater(shmap.layout_version(), 0)

    def test_bad_name_is_invalid(self):
        with self.assertRaises(shmap.InvalidArgumentError):
            shmap.unlink("no-leading-slash")
        with self.assertRaises(shmap.NoSegmentError) as cm:
            shmap.unlink("/shmap-py-never-created-%d" % id(self))
        import errno
        self.assertEqual(cm.exception.sys_errno, errno.ENOENT)  # errno is kept

    def test_options(self):
        o = shmap.Options(mode=0o600, timeout_ms=100, max_procs=8)
        p = o._new()  # the C options, freed with the object
        del p
        with self.assertRaises(shmap.InvalidArgumentError):
            shmap.Options(backend=99)._new()

    def test_info_field_max_matches_header(self):
        fields = importlib.import_module("shmap.info").FIELDS
        self.assertEqual(shmap.INFO_FIELD_MAX, len(fields))
        self.assertEqual(sorted(fields.values()),
                         list(range(1, shmap.INFO_FIELD_MAX + 1)))
        hdr = os.path.join(os.path.dirname(__file__), "..", "..", "..", "include", "shmap",
                           "inspect.h")
        if not os.path.exists(hdr):
            self.skipTest("not in the source tree")
        with open(hdr) as f:
            m = re.search(r"#define\s+SHMAP_INFO_FIELD_MAX\s+(\d+)", f.read())
        self.assertIsNotNone(m)
        self.assertEqual(int(m.group(1)), shmap.INFO_FIELD_MAX)


if __name__ == "__main__":
    unittest.main()
