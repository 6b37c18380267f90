"""Complementary (secondary) cell suppression over "a total and its parts".

Small-cell (primary) suppression hides every count of people below the threshold.
That is not enough where a total is published beside its parts: the state's teacher
count minus the visible district counts gives back the one hidden district. This
module decides which further cells to withhold so that no hidden cell can be worked
out from the published ones. It knows nothing of districts or metrics: a problem is

* cells: a value each (the figure; used to rank candidates) and whether it is
  hidden from the start (``primary``: below the threshold);
* relations: linear equations between cells, ``sum(coef x cell) = 0``, each with one
  *total* cell (coefficient -1) and its *parts*. A plain sum (unit coefficients:
  "total = sum of parts") or any linear relation (a published ratio of two sums);
  each relation belongs to a *family* (e.g. "by ISD"; the relations of one family
  normally have disjoint parts, which the audit uses to go fast).

The method (the standard one of statistical agencies, e.g. tau-Argus "hypercube" /
Cox's secondary suppression, here in a simple greedy form):

1. **Per relation, repeated until stable.** A relation whose total is published and
   that has exactly one hidden cell would give it back by subtraction: withhold one
   more cell. In a plain sum that holds a hidden primary cell, the hidden cells must
   also include a *protector*: a withheld part of at least ``2n - 1`` (19 for n = 10),
   so that, even knowing which hidden cells are under ``n`` (shown ``<n``) and which
   are not, a reader cannot narrow a hidden count below ``n`` to less than the full
   range 0..n-1 (hidden sum minus n for the protector is at least n - 1). Candidates,
   in order: the smallest published part of at least ``2n - 1``, the relation's total,
   the smallest remaining part.
2. **Audit.** Relations that overlap (state, locale, district type and ISD all hold
   the same district) can pin a hidden cell through a combination of equations
   (e.g. three groupings that each hold two of three hidden cells). The audit solves
   the linear system exactly: a hidden cell is recoverable if and only if its unit
   vector lies in the row space of the equations restricted to the hidden cells. For
   each such cell one more cell of one of its relations is withheld (same order of
   candidates), and step 1 runs again.

Everything is done on arrays (numpy), a pass per round over all relations at once;
no loop over districts. The audit splits the hidden cells into independent
components and projects the largest family of disjoint relations out analytically,
so the dense part of each system has only as many rows as the other relations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# statuses, ordered by severity (the max of several is the one to show)
VISIBLE, COMPLEMENTARY, PRIMARY = 0, 1, 2

# residual below which a hidden cell counts as determined by the published figures
_TOLERANCE = 1e-7


@dataclass
class Problem:
    """Arrays of one suppression problem (see the module docstring).

    cells:      ``value`` (float; +inf for cells that are not counts, e.g. a ratio),
                ``primary`` (bool)
    members:    one entry per (relation, cell): ``relation`` (int), ``cell`` (int),
                ``coef`` (float), ``total`` (bool: the relation's total)
    relations:  per relation: ``family`` (int) and ``plain`` (bool: a plain sum)
    """

    value: np.ndarray
    primary: np.ndarray
    m_relation: np.ndarray
    m_cell: np.ndarray
    m_coef: np.ndarray
    m_total: np.ndarray
    r_family: np.ndarray
    r_plain: np.ndarray

    @classmethod
    def from_frames(cls, cells: pd.DataFrame, members: pd.DataFrame, relations: pd.DataFrame) -> Problem:
        """cells indexed 0..N-1, relations indexed 0..R-1 (``family`` may be any hashable)."""
        fam = pd.factorize(relations["family"])[0] if len(relations) else np.zeros(0, dtype=np.int64)
        return cls(
            value=cells["value"].to_numpy(dtype="float64"),
            primary=cells["primary"].to_numpy(dtype=bool),
            m_relation=members["relation"].to_numpy(dtype=np.int64),
            m_cell=members["cell"].to_numpy(dtype=np.int64),
            m_coef=members["coef"].to_numpy(dtype="float64"),
            m_total=members["total"].to_numpy(dtype=bool),
            r_family=np.asarray(fam, dtype=np.int64),
            r_plain=relations["plain"].to_numpy(dtype=bool),
        )

    @property
    def n_cells(self) -> int:
        return len(self.value)

    @property
    def n_relations(self) -> int:
        return len(self.r_plain)


def suppress(problem: Problem, min_cell_size: int, *, max_rounds: int = 1000) -> np.ndarray:
    """The status of every cell: VISIBLE, PRIMARY (hidden from the start) or
    COMPLEMENTARY (withheld so that no hidden cell can be worked out)."""
    p = problem
    n = int(min_cell_size)
    hidden = p.primary.copy()
    big = 2 * n - 1
    # the rank of each entry as a candidate: (tier, value, cell)
    part = ~p.m_total
    v = p.value[p.m_cell]
    plain_entry = p.r_plain[p.m_relation]
    tier = np.where(p.m_total, 1, np.where(plain_entry & (v < big), 2, 0)).astype(np.int64)
    for _ in range(max_rounds):
        _per_relation(p, hidden, big, tier, v, part)
        recoverable = determined(p, hidden)
        if not recoverable.any():
            return np.where(p.primary, PRIMARY, np.where(hidden, COMPLEMENTARY, VISIBLE))
        _break_determined(p, hidden, recoverable, big)
    raise RuntimeError("complementary suppression did not settle")  # pragma: no cover


def _first_per_group(group: np.ndarray, keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best entry (smallest keys) of each group: (groups, entry indices)."""
    # np.lexsort sorts by its last key first: the group is the primary key
    order = np.lexsort(tuple(reversed([group] + keys)))
    g = group[order]
    first = np.ones(len(g), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    return g[first], order[first]


def _per_relation(p: Problem, hidden: np.ndarray, big: int, tier, v, part) -> None:
    R = p.n_relations
    while True:
        h = hidden[p.m_cell]
        n_hidden = np.bincount(p.m_relation, weights=h, minlength=R)
        total_hidden = np.bincount(p.m_relation, weights=h & p.m_total, minlength=R) > 0
        hidden_primary_part = np.bincount(p.m_relation, weights=h & part & p.primary[p.m_cell], minlength=R) > 0
        protector = np.bincount(p.m_relation, weights=h & part & ~p.primary[p.m_cell] & (v >= big), minlength=R) > 0
        need = ~total_hidden & ((n_hidden == 1) | (p.r_plain & hidden_primary_part & ~protector))
        if not need.any():
            return
        # a candidate that also sits in other relations in need protects them at once
        # (the cell in the same locale, type and ISD as a hidden one): rank it first
        helps = np.bincount(p.m_cell, weights=need[p.m_relation], minlength=p.n_cells)
        cand = np.flatnonzero(need[p.m_relation] & ~h)
        if not len(cand):  # pragma: no cover - a needy relation always has its total
            raise RuntimeError("complementary suppression found no candidate")
        _, best = _first_per_group(p.m_relation[cand], [tier[cand], -helps[p.m_cell[cand]], v[cand], p.m_cell[cand]])
        hidden[p.m_cell[cand[best]]] = True


def _break_determined(p: Problem, hidden: np.ndarray, recoverable: np.ndarray, big: int) -> None:
    """For each recoverable hidden cell, withhold one published cell that its recovery
    needs. The audit gives, per recoverable cell, a combination of relations that pins
    it (``lambda``: e_i = sum lambda_k row_k over the hidden cells); every published
    cell with a non-zero weight in that combination is used by it, so withholding one
    of them breaks it. The best of them is withheld: a part of at least 2n-1, else a
    total, else a smaller part; the smallest first. The audit then runs again."""
    is_total = np.bincount(p.m_cell, weights=p.m_total, minlength=p.n_cells) > 0
    tier = np.where(is_total, 1, np.where(p.value >= big, 0, 2))
    for cells, weights in _certificates(p, hidden, recoverable):
        # weights: (len(cells) x n_cells) over published cells, as a sparse triple
        rec_ix, cell, w = weights
        used = np.abs(w) > 1e-9
        rec_ix, cell = rec_ix[used], cell[used]
        if not len(cell):  # pragma: no cover - a determined cell always uses a published one
            raise RuntimeError("complementary suppression: a hidden cell stays recoverable")
        # prefer a cell of the recoverable cell's own relations (its own total and parts)
        near = _shares_relation(p, cells[rec_ix], cell)
        _, best = _first_per_group(rec_ix, [~near, tier[cell], p.value[cell], cell])
        hidden[cell[best]] = True


def _shares_relation(p: Problem, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For pairs of cells (a[i], b[i]): do they appear together in a relation? (a holds
    few distinct cells: the recoverable ones.)"""
    out = np.zeros(len(a), dtype=bool)
    cells = np.unique(a)
    mine = np.isin(p.m_cell, cells)
    # only the entries of relations that hold one of those cells matter
    near = np.zeros(p.n_relations, dtype=bool)
    near[p.m_relation[mine]] = True
    ent = np.flatnonzero(near[p.m_relation])
    e_rel, e_cell = p.m_relation[ent], p.m_cell[ent]
    for cell in cells:
        rels = e_rel[e_cell == cell]
        neighbours = np.unique(e_cell[np.isin(e_rel, rels)])
        pick = a == cell
        out[pick] = np.isin(b[pick], neighbours)
    return out


# ----------------------------------------------------------------------------- audit


def _hidden_components(p: Problem, hidden: np.ndarray):
    """The hidden cells' entries split into independent components: yields, per
    component, (global cell ids, local cell index, global relation ids, local relation
    index, coefficients) of its entries. Local indices come from one sort of all cells
    and relations by component, not a sort per component."""
    ent = np.flatnonzero(hidden[p.m_cell])
    if not len(ent):
        return
    rel = p.m_relation[ent]
    cell = p.m_cell[ent]
    coef = p.m_coef[ent]
    cells_u, cell_ix = np.unique(cell, return_inverse=True)
    rels_u, rel_ix = np.unique(rel, return_inverse=True)
    comp = _components(cell_ix, rel_ix, len(cells_u), len(rels_u))
    # every cell's and relation's position within its component
    c_order = np.argsort(comp, kind="stable")
    c_comp = comp[c_order]
    c_start = np.flatnonzero(np.r_[True, c_comp[1:] != c_comp[:-1]])
    c_local = np.empty(len(cells_u), dtype=np.int64)
    c_local[c_order] = np.arange(len(cells_u)) - np.repeat(c_start, np.diff(np.r_[c_start, len(cells_u)]))
    r_comp = np.empty(len(rels_u), dtype=np.int64)
    r_comp[rel_ix] = comp[cell_ix]
    r_order = np.argsort(r_comp, kind="stable")
    rr_comp = r_comp[r_order]
    r_start = np.flatnonzero(np.r_[True, rr_comp[1:] != rr_comp[:-1]])
    r_local = np.empty(len(rels_u), dtype=np.int64)
    r_local[r_order] = np.arange(len(rels_u)) - np.repeat(r_start, np.diff(np.r_[r_start, len(rels_u)]))
    # entries grouped by component
    comp_of_entry = comp[cell_ix]
    order = np.argsort(comp_of_entry, kind="stable")
    bounds = np.flatnonzero(np.diff(comp_of_entry[order])) + 1
    c_bounds = np.r_[c_start, len(cells_u)]
    r_bounds = np.r_[r_start, len(rels_u)]
    for k, chunk in enumerate(np.split(order, bounds)):
        c_glob = cells_u[c_order[c_bounds[k] : c_bounds[k + 1]]]
        r_glob = rels_u[r_order[r_bounds[k] : r_bounds[k + 1]]]
        yield c_glob, c_local[cell_ix[chunk]], r_glob, r_local[rel_ix[chunk]], coef[chunk]


def determined(p: Problem, hidden: np.ndarray) -> np.ndarray:
    """Which hidden cells the published cells and the relations determine exactly.

    A hidden cell x_i is determined iff e_i is in the row space of A (the relations
    restricted to the hidden cells). The rows of one *block* family (relations with
    disjoint supports) are projected out analytically; with Q an orthonormal basis of
    the projected other rows, x_i is determined iff ||P e_i||^2 - ||Q_i||^2 = 0.
    """
    out = np.zeros(p.n_cells, dtype=bool)
    for c_glob, c_loc, r_glob, r_loc, coef in _hidden_components(p, hidden):
        sys_ = _System(c_loc, r_loc, coef, p.r_family[r_glob])
        out[c_glob[sys_.determined()]] = True
    return out


def _certificates(p: Problem, hidden: np.ndarray, recoverable: np.ndarray):
    """Per component holding recoverable cells: (their global ids, (row index, published
    cell, weight)) where weight is the coefficient of the published cell in the
    combination of relations that pins the recoverable cell."""
    for c_glob, c_loc, r_glob, r_loc, coef in _hidden_components(p, hidden):
        want = np.flatnonzero(recoverable[c_glob])
        if not len(want):
            continue
        sys_ = _System(c_loc, r_loc, coef, p.r_family[r_glob])
        # published entries of the component's relations
        pos = np.full(p.n_relations, -1, dtype=np.int64)
        pos[r_glob] = np.arange(len(r_glob))
        ent = np.flatnonzero((pos[p.m_relation] >= 0) & ~hidden[p.m_cell])
        for start in range(0, len(want), 64):
            lam = sys_.combination(want[start : start + 64])  # (k x n_r)
            rows = lam[:, pos[p.m_relation[ent]]] * p.m_coef[ent]  # (k x entries)
            k_ix, e_ix = np.nonzero(rows)
            cells = p.m_cell[ent[e_ix]]
            # sum per (row, cell)
            key = k_ix.astype(np.int64) * p.n_cells + cells
            uk, inv = np.unique(key, return_inverse=True)
            w = np.bincount(inv, weights=rows[k_ix, e_ix], minlength=len(uk))
            yield c_glob[want[start : start + 64]], (uk // p.n_cells, uk % p.n_cells, w)


def _components(cell_ix: np.ndarray, rel_ix: np.ndarray, n_cells: int, n_rels: int) -> np.ndarray:
    """Connected components of the bipartite graph hidden cell - relation (label
    propagation; the graphs here have a small diameter)."""
    label = np.arange(n_cells, dtype=np.int64)
    while True:
        rel_min = np.full(n_rels, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(rel_min, rel_ix, label[cell_ix])
        new = label.copy()
        np.minimum.at(new, cell_ix, rel_min[rel_ix])
        new = new[new]  # pointer jumping
        if np.array_equal(new, label):
            return label
        label = new


class _System:
    """The relations of one component restricted to its hidden cells:
    A (n_r x n_u) with the rows of one family of disjoint relations (*blocks*) projected
    out analytically and the others (*dense*) kept as the columns of H (n_u x k)."""

    def __init__(self, c_loc, r_loc, coef, rel_family):
        n_u = int(c_loc.max()) + 1
        n_r = len(rel_family)
        self.n_u, self.n_r = n_u, n_r
        block = np.zeros(n_r, dtype=bool)
        fams, fam_counts = np.unique(rel_family, return_counts=True)
        for f in fams[np.argsort(-fam_counts, kind="stable")]:
            in_f = rel_family[r_loc] == f
            if np.bincount(c_loc[in_f], minlength=n_u).max(initial=0) <= 1:
                block = rel_family == f
                break
        b_ent = block[r_loc]
        self.r_i = np.zeros(n_u)  # the cell's coefficient in its block row
        self.b_of = np.full(n_u, -1, dtype=np.int64)
        self.r_i[c_loc[b_ent]] = coef[b_ent]
        self.b_of[c_loc[b_ent]] = r_loc[b_ent]
        self.norm2 = np.bincount(r_loc[b_ent], weights=coef[b_ent] ** 2, minlength=n_r)
        self.has_b = self.b_of >= 0
        self.dense = np.flatnonzero(~block)
        k = len(self.dense)
        col = np.full(n_r, -1, dtype=np.int64)
        col[self.dense] = np.arange(k)
        d_ent = ~b_ent
        H = np.zeros((n_u, k))
        np.add.at(H, (c_loc[d_ent], col[r_loc[d_ent]]), coef[d_ent])
        self.H = H
        hb = self.has_b
        dots = np.zeros((n_r, k))
        np.add.at(dots, self.b_of[hb], self.r_i[hb, None] * H[hb])
        M = H.copy()
        M[hb] -= self.r_i[hb, None] * dots[self.b_of[hb]] / self.norm2[self.b_of[hb], None]
        # an orthonormal basis of the columns of M from its Gram matrix (k x k: k is the
        # number of dense relations, small), U = M V diag(1/sqrt(eigenvalues))
        self.rank = 0
        self.U = np.zeros((n_u, 0))
        if M.size:
            w, V = np.linalg.eigh(M.T @ M)
            keep = w > max(w.max(initial=0.0), 0.0) * 1e-11
            if keep.any():
                self.rank = int(keep.sum())
                self.s = np.sqrt(w[keep])
                self.Vt = V[:, keep].T
                self.U = (M @ V[:, keep]) / self.s

    def _proj(self) -> np.ndarray:
        p = np.zeros(self.n_u)
        hb = self.has_b
        p[hb] = self.r_i[hb] ** 2 / self.norm2[self.b_of[hb]]
        return p

    def determined(self) -> np.ndarray:
        residual = 1.0 - self._proj() - (self.U**2).sum(axis=1)
        return residual < _TOLERANCE

    def combination(self, cells: np.ndarray) -> np.ndarray:
        """For determined local cells: lambda (len(cells) x n_r) with
        e_i = sum_k lambda_k row_k (on the hidden cells)."""
        lam = np.zeros((len(cells), self.n_r))
        if self.rank:
            # dense part: c = pinv(M) P e_i = V S^-1 U^T e_i (U spans a subspace of range(P))
            c = (self.U[cells] / self.s) @ self.Vt  # (len x k)
            lam[:, self.dense] = c
            w = -(c @ self.H.T)  # (len x n_u): e_i - H c, without e_i
        else:
            w = np.zeros((len(cells), self.n_u))
        w[np.arange(len(cells)), cells] += 1.0
        hb = np.flatnonzero(self.has_b)
        if len(hb):
            # block part: a_b = r_b . (e_i - H c) / ||r_b||^2
            for j in range(len(cells)):
                lam[j] += np.bincount(self.b_of[hb], weights=self.r_i[hb] * w[j, hb], minlength=self.n_r) / np.where(
                    self.norm2 > 0, self.norm2, 1.0
                )
        return lam
