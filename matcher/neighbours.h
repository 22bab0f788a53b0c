/*
 * neighbours.h -- a second local descriptor, stored with each cylinder:
 * the K nearest minutiae around a minutia, each as (distance, direction
 * to it, its direction), the angles relative to the minutia's own
 * direction, so it is invariant to rotation and translation (the local
 * structure of Jiang & Yau, "Fingerprint minutiae matching based on the
 * local and global structures", ICPR 2000, with K neighbours compared
 * under tolerances).  MCC weighs every cell of its disk alike, so most of
 * its evidence lies far from the centre where distortion is largest;
 * this descriptor looks only at the nearest neighbours.  Internal to the
 * matcher: mcc.c stores it, compare.c scores the pairs LSS-R kept with it.
 *
 * Record (NB_BYTES): NB_K entries of 3 bytes, nearest first:
 *   uint8 distance in 1/2 px (1..NB_DMAX_Q), 0xff = no neighbour
 *   uint8 direction to it, uint8 its direction: 2pi/256 units, relative
 * Absent entries are 0xff 0 0 and only follow present ones.
 */

#ifndef HUELLA_NEIGHBOURS_H
#define HUELLA_NEIGHBOURS_H

#include "mcc.h"

#define NB_K        6
#define NB_BYTES    (3 * NB_K)
#define NB_ABSENT   0xff
#define NB_DMAX_Q   240             /* 120 px, in 1/2 px */

_Static_assert(NB_BYTES == MCC_NB_BYTES, "mcc.h's MCC_NB_BYTES");

/* The record of pts[self] among pts[0..n). */
void nb_encode(const struct mcc_point *pts, int n, int self, uint8_t *out);

/* 0 if rec is a well-formed record, else -1. */
int nb_check(const uint8_t *rec);

/* Similarity in [0, 1] of two records: m / sqrt(k_a k_b), m the most
 * neighbours that can be paired one-to-one within the tolerances (the
 * same whichever record is a). */
float nb_similarity(const uint8_t *a, const uint8_t *b);

#endif /* HUELLA_NEIGHBOURS_H */
