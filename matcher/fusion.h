/*
 * fusion.h -- score-level fusion of several fingers into one decision.
 *
 * Owns: hm_fuse_scores(), the rule that turns the calibrated scores of
 * independent fingers (one per probe finger, match.h) into one score on the
 * same scale, so a fused score is compared with the same threshold
 * (hm_threshold_for_fmr()) as a single finger's.
 */

#ifndef HUELLA_FUSION_H
#define HUELLA_FUSION_H

/* Each score is mapped to its false match rate (hm_fmr_for_score()); the
 * m rates of the fingers with evidence combine by Fisher's method (the
 * chance that m independent impostor fingers do at least this well
 * together: p * sum_{k<m} (-ln p)^k / k! with p their product), and that
 * rate is mapped back with hm_threshold_for_fmr(), so the result stays
 * inside the calibrated range.  A score of 0 or less (a finger with no
 * mate, or missing) is no evidence and is not counted.  n == 1 returns
 * scores[0] unchanged, bit for bit; n == 0 returns 0. */
double hm_fuse_scores(const double *scores, unsigned n);

#endif /* HUELLA_FUSION_H */
