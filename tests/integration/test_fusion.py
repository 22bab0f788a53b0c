"""Multi-finger fusion in POST /api/v1/verify and /api/v1/identify
("fingers": several fingers, one decision): real nginx + module + huellad.

Subjects are pairs of different fingers of one FVC set (two fingers of a
person are different fingers): subject k of a set enrolls finger 2k-1
(impression 1) at position 1 and finger 2k at position 2.  Which probes
fall below the threshold is read from the matcher at run time (the scores
of single-finger verifies), never hard-coded.
"""
import itertools
import os

from harness import DATA, HuellaTestCase, iso, main, make_curp

ISO = "iso19794-2:2005"
SETS = [("fvc2002", "DB1_B"), ("fvc2004", "DB1_B"), ("fvc2004", "DB2_B")]


def tpl(s, finger, impression):
    return os.path.join(DATA, s[0], s[1], f"{finger}_{impression}.iso")


def probe(s, finger, impression, position=None):
    p = {"format": ISO, "data": iso(tpl(s, finger, impression))}
    if position is not None:
        p["position"] = position
    return p


class FusionTest(HuellaTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.subjects = []          # (curp, set, finger at 1, finger at 2)
        n = 0
        for s in SETS:
            for k in range(5):
                a, b = 101 + 2 * k, 102 + 2 * k
                c = make_curp(7000 + n)
                n += 1
                st, _, doc = cls.h.request("POST", "/api/v1/subjects", {
                    "curp": c, "name": f"Fusion {s[0]} {s[1]} {a}+{b}"})
                assert st == 201, (st, doc)
                for pos, f in ((1, a), (2, b)):
                    st, _, doc = cls.h.request(
                        "PUT", f"/api/v1/subjects/{c}/fingers/{pos}",
                        {"format": ISO, "data": iso(tpl(s, f, 1))})
                    assert st == 201, (st, doc)
                cls.subjects.append((c, s, a, b))
        cls.single = {}            # (curp, position, impression) -> doc
        for c, s, a, b in cls.subjects:
            for pos, f in ((1, a), (2, b)):
                for imp in range(2, 9):
                    st, _, doc = cls.h.request("POST", "/api/v1/verify", {
                        "curp": c, "finger": probe(s, f, imp, pos)})
                    assert st == 200, (st, doc)
                    cls.single[(c, pos, imp)] = doc
        cls.threshold = doc["threshold"]

    def verify(self, curp, fingers, status=200):
        st, _, doc = self.h.request("POST", "/api/v1/verify",
                                    {"curp": curp, "fingers": fingers})
        self.assertEqual(st, status, doc)
        return doc

    def rescue_pair(self):
        """The genuine two-finger probe whose two fingers both score below
        the threshold on their own, with the highest weaker score."""
        best = None
        for c, s, a, b in self.subjects:
            for i, j in itertools.product(range(2, 9), repeat=2):
                s1 = self.single[(c, 1, i)]["score"]
                s2 = self.single[(c, 2, j)]["score"]
                if max(s1, s2) < self.threshold:
                    if best is None or min(s1, s2) > best[0]:
                        best = (min(s1, s2), c, s, a, b, i, j)
        self.assertIsNotNone(best, "no genuine probes below the threshold")
        return best[1:]

    def test_single_finger_contract_unchanged(self):
        c, s, a, _ = self.subjects[0]
        st, _, doc = self.h.request("POST", "/api/v1/verify", {
            "curp": c, "finger": probe(s, a, 2, 1)})
        self.assertEqual(st, 200, doc)
        self.assertEqual(set(doc), {"curp", "match", "score", "threshold",
                                    "position"})
        st, _, doc = self.h.request("POST", "/api/v1/identify", {
            "finger": probe(s, a, 2)})
        self.assertEqual(st, 200, doc)
        self.assertEqual(set(doc), {"candidates", "searched", "threshold"})
        for cand in doc["candidates"]:
            self.assertEqual(set(cand), {"curp", "position", "score"})

    def test_one_finger_list_scores_as_single(self):
        for c, s, a, b in self.subjects[:5]:
            doc = self.verify(c, [probe(s, b, 3, 2)])
            single = self.single[(c, 2, 3)]
            self.assertTrue(doc["fused"])
            self.assertAlmostEqual(doc["score"], single["score"], places=5)
            self.assertEqual(doc["match"], single["match"])
            self.assertEqual(doc["fingers"], [{
                "position": 2, "score": doc["fingers"][0]["score"],
                "matched_position": 2}])

    def test_fused_verify_accepts_two_weak_genuine_fingers(self):
        c, s, a, b, i, j = self.rescue_pair()
        doc = self.verify(c, [probe(s, a, i, 1), probe(s, b, j, 2)])
        self.assertEqual(set(doc), {"curp", "match", "score", "threshold",
                                    "fused", "fingers"})
        self.assertEqual(doc["curp"], c)
        self.assertTrue(doc["fused"])
        self.assertEqual(doc["threshold"], self.threshold)
        self.assertTrue(doc["match"], doc)
        self.assertGreaterEqual(doc["score"], doc["threshold"])
        self.assertEqual([f["position"] for f in doc["fingers"]], [1, 2])
        self.assertEqual([f["matched_position"] for f in doc["fingers"]],
                         [1, 2])
        for f, imp in zip(doc["fingers"], (i, j)):
            alone = self.single[(c, f["position"], imp)]
            self.assertFalse(alone["match"])
            self.assertAlmostEqual(f["score"], alone["score"], places=5)
            self.assertLess(f["score"], doc["threshold"])

    def test_impostor_fingers_stay_rejected(self):
        # every pair of another subject's fingers, at their own positions:
        # rejected, but for the matcher's own single-finger false matches
        # (one impostor finger alone at the threshold) and, at the
        # configured rate (1e-4 of 840 attempts), two weak ones together
        tried = accepted = alone = 0
        for (c, _, _, _), (_, s2, a2, b2) in itertools.permutations(
                self.subjects, 2):
            for imp in (2, 5):
                doc = self.verify(c, [probe(s2, a2, imp, 1),
                                      probe(s2, b2, imp, 2)])
                best = max(f["score"] for f in doc["fingers"])
                alone += best >= doc["threshold"]
                if doc["match"]:
                    accepted += 1
                else:
                    self.assertLess(doc["score"], doc["threshold"])
                tried += 1
        self.assertEqual(tried, 15 * 14 * 2)
        self.assertLessEqual(accepted, alone + 1)
        self.assertLessEqual(accepted, 4)

    def test_two_matching_fingers_match(self):
        for c, s, a, b in self.subjects:
            s1 = self.single[(c, 1, 2)]
            s2 = self.single[(c, 2, 2)]
            doc = self.verify(c, [probe(s, a, 2, 1), probe(s, b, 2, 2)])
            if s1["match"] and s2["match"]:
                self.assertTrue(doc["match"], (s1, s2, doc))

    def test_one_impostor_finger_near_threshold_is_not_enough(self):
        # a strong finger and a second one that does not match at all: the
        # evidence of one finger spread over two draws, so the fused score
        # is below that finger's own
        c, s, a, b = next(x for x in self.subjects
                          if self.single[(x[0], 1, 2)]["match"])
        alone = self.single[(c, 1, 2)]
        worst = None
        for other in self.subjects:
            if other[0] == c:
                continue
            doc = self.verify(c, [probe(s, a, 2, 1),
                                  probe(other[1], other[3], 2, 2)])
            if worst is None or doc["fingers"][1]["score"] < \
                    worst["fingers"][1]["score"]:
                worst = doc
        self.assertLess(worst["fingers"][1]["score"], 0.026)  # FMR >= 0.5
        self.assertLess(worst["score"], alone["score"])

    def test_fingers_without_position_take_distinct_fingers(self):
        c, s, a, b = self.subjects[1]
        # the same finger twice, positions not given: one of them pairs
        # with finger a, the other may only have finger b
        doc = self.verify(c, [probe(s, a, 2), probe(s, a, 3)])
        matched = sorted(f["matched_position"] for f in doc["fingers"])
        self.assertEqual(matched, [1, 2])
        self.assertEqual([f["position"] for f in doc["fingers"]],
                         [None, None])
        # each finger is found where it is when no position is given
        doc = self.verify(c, [probe(s, b, 2), probe(s, a, 2)])
        self.assertEqual([f["matched_position"] for f in doc["fingers"]],
                         [2, 1])
        pinned = self.verify(c, [probe(s, b, 2, 2), probe(s, a, 2, 1)])
        self.assertAlmostEqual(doc["score"], pinned["score"], places=5)
        # more fingers than enrolled: the extra one has nothing to pair with
        doc = self.verify(c, [probe(s, a, 2), probe(s, b, 2),
                              probe(s, a, 4)])
        self.assertEqual(sum(f["matched_position"] is None
                             for f in doc["fingers"]), 1)

    def test_malformed_fingers_rejected_precisely(self):
        c, s, a, b = self.subjects[0]
        good = probe(s, a, 2, 1)
        cases = [
            ({"finger": good, "fingers": [good]}, 400,
             "conflicting_fields", "fingers"),
            ({}, 400, "missing_field", "finger"),
            ({"fingers": {"position": 1}}, 422, "invalid_type", "fingers"),
            ({"fingers": "AAAA"}, 422, "invalid_type", "fingers"),
            ({"fingers": []}, 422, "invalid_fingers", "fingers"),
            ({"fingers": [probe(s, a, 2)] * 11}, 422, "invalid_fingers",
             "fingers"),
            ({"fingers": [good, 7]}, 422, "invalid_type", "fingers[1]"),
            ({"fingers": [good, {"data": good["data"]}]}, 400,
             "missing_field", "fingers[1].format"),
            ({"fingers": [good, {"format": ISO}]}, 400, "missing_field",
             "fingers[1].data"),
            ({"fingers": [{"format": "png", "data": "AAAA"}]}, 422,
             "unsupported_format", "fingers[0].format"),
            ({"fingers": [good, {"format": ISO, "data": "!!"}]}, 422,
             "invalid_base64", "fingers[1].data"),
            ({"fingers": [dict(good, position=11)]}, 422, "out_of_range",
             "fingers[0].position"),
            ({"fingers": [dict(good, position="1")]}, 422, "invalid_type",
             "fingers[0].position"),
            ({"fingers": [good, probe(s, b, 2), probe(s, b, 3, 1)]}, 422,
             "duplicate_position", "fingers[2].position"),
            ({"fingers": [good, {"format": ISO, "data": iso(os.path.join(
                DATA, "invalid", "101_1_truncate_1_byte.iso"))}]}, 422,
             "invalid_template", "fingers[1].data"),
        ]
        for path in ("/api/v1/verify", "/api/v1/identify"):
            for body, status, code, field in cases:
                if path.endswith("verify"):
                    body = dict(body, curp=c)
                st, _, doc = self.h.request("POST", path, body)
                self.assertEqual((st, doc["error"]["code"],
                                  doc["error"].get("field")),
                                 (status, code, field), (path, body, doc))
                self.assertTrue(doc["error"]["message"])
        # a position the subject has not enrolled: as for one finger
        doc = self.verify(c, [good, probe(s, b, 2, 7)], status=404)
        self.assertEqual((doc["error"]["code"], doc["error"]["field"]),
                         ("finger_not_found", "fingers[1].position"))
        doc = self.verify(make_curp(7999), [good], status=404)
        self.assertEqual(doc["error"]["code"], "subject_not_found")

    def test_identify_two_fingers_ranks_right_subject_first(self):
        found = 0
        for c, s, a, b in self.subjects:
            fingers = [probe(s, a, 3, 1), probe(s, b, 3, 2)]
            v = self.verify(c, fingers)
            st, _, doc = self.h.request("POST", "/api/v1/identify", {
                "fingers": fingers, "max_candidates": 5})
            self.assertEqual(st, 200, doc)
            self.assertTrue(doc["fused"])
            self.assertEqual(doc["searched"], 30)
            scores = [x["score"] for x in doc["candidates"]]
            self.assertEqual(scores, sorted(scores, reverse=True))
            for x in doc["candidates"]:
                self.assertGreaterEqual(x["score"], doc["threshold"])
                self.assertEqual(len(x["fingers"]), 2)
            if not v["match"]:
                # below the threshold for verify: no candidate either
                self.assertNotIn(c, [x["curp"] for x in doc["candidates"]])
                continue
            found += 1
            top = doc["candidates"][0]
            self.assertEqual(top["curp"], c)
            # the candidate's score is what verify answers for that CURP
            self.assertAlmostEqual(top["score"], v["score"], places=5)
            self.assertEqual(top["fingers"], v["fingers"])
        self.assertGreaterEqual(found, 10)

    def test_identify_fuses_two_weak_fingers(self):
        c, s, a, b, i, j = self.rescue_pair()
        for f, imp, pos in ((a, i, 1), (b, j, 2)):
            st, _, doc = self.h.request("POST", "/api/v1/identify", {
                "finger": probe(s, f, imp, pos)})
            self.assertEqual(st, 200, doc)
            self.assertNotIn(c, [x["curp"] for x in doc["candidates"]])
        st, _, doc = self.h.request("POST", "/api/v1/identify", {
            "fingers": [probe(s, a, i, 1), probe(s, b, j, 2)]})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["candidates"][0]["curp"], c, doc)
        self.assertEqual([f["matched_position"]
                          for f in doc["candidates"][0]["fingers"]], [1, 2])

    def test_identify_without_positions(self):
        c, s, a, b = self.subjects[7]
        st, _, doc = self.h.request("POST", "/api/v1/identify", {
            "fingers": [probe(s, b, 4), probe(s, a, 4)],
            "max_candidates": 1})
        self.assertEqual(st, 200, doc)
        self.assertEqual(len(doc["candidates"]), 1)
        top = doc["candidates"][0]
        self.assertEqual(top["curp"], c)
        self.assertEqual([f["matched_position"] for f in top["fingers"]],
                         [2, 1])
        self.assertEqual([f["position"] for f in top["fingers"]],
                         [None, None])


if __name__ == "__main__":
    main()
