"""Backup and restore (issue 7, item 7): `huellactl backup DEST` takes a hot
copy while writes go on; a huellad started on the copy serves every record
acknowledged before the backup began."""
import os
import shutil
import subprocess
import threading
import unittest

from harness import BUILD, Huella, db1, iso, main, make_curp

ISO = "iso19794-2:2005"


class BackupRestoreTest(unittest.TestCase):

    def test_hot_backup_then_restore(self):
        h = Huella()
        try:
            h.start()
            before = []
            for i in range(20):
                c = make_curp(60000 + i)
                st, _, _ = h.request("POST", "/api/v1/subjects",
                                     {"curp": c, "name": f"Respaldo {i}"})
                self.assertEqual(st, 201)
                st, _, _ = h.request("PUT", f"/api/v1/subjects/{c}/fingers/1",
                                     {"format": ISO,
                                      "data": iso(db1(101 + i % 10, 1))})
                self.assertEqual(st, 201)
                before.append(c)

            stop = threading.Event()

            def keep_writing():
                n = 0
                while not stop.is_set() and n < 500:
                    h.request("POST", "/api/v1/subjects",
                              {"curp": make_curp(61000 + n), "name": "W"})
                    n += 1

            t = threading.Thread(target=keep_writing)
            t.start()
            dest = os.path.join(h.dir, "backup")
            out = subprocess.run(
                [os.path.join(BUILD, "bin", "huellactl"), "backup",
                 "--socket", h.sock, dest],
                capture_output=True, text=True, timeout=60)
            stop.set()
            t.join()
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertTrue(os.path.exists(os.path.join(dest, "data.mdb")))

            # Restore: a fresh instance whose data directory is the copy.
            h.stop()
            shutil.rmtree(h.data)
            shutil.copytree(dest, h.data)
            h.start()
            for c in before:
                st, _, doc = h.request("GET", f"/api/v1/subjects/{c}")
                self.assertEqual(st, 200, c)
                self.assertEqual([f["position"] for f in doc["fingers"]], [1])
            st, _, doc = h.request("POST", "/api/v1/identify", {
                "finger": {"format": ISO, "data": iso(db1(103, 2))}})
            self.assertEqual(st, 200)
            self.assertIn(doc["candidates"][0]["curp"], before)
        finally:
            logs = h.logs()
            h.cleanup()
            self.assertNotIn("ERROR: AddressSanitizer", logs)


if __name__ == "__main__":
    main()
