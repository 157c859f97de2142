"""The kernels of what providers learn: their sums of profit and benefit, their least-squares
record, the values of their patients' episodes.

:class:`NumpyLearning` holds the numpy twins (the reference), :class:`NumbaLearning` their
compiled wrappers (the kernels of :mod:`sim.engine.compiled.learning`); :mod:`sim.engine.kernels`
joins every seam's into its ``Numpy`` and ``Numba``.
"""

from __future__ import annotations

import numpy as np

from sim.engine.kernels.common import CompiledTwin


class NumpyLearning:
    """The numpy twins of the learning kernels (the reference semantics)."""

    @staticmethod
    def provider_sums(
        provider: np.ndarray,
        mask: np.ndarray,
        profit: np.ndarray,
        benefit: np.ndarray,
        n_providers: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per provider, over the patients where ``mask`` is true: their number (int64) and
        the sums of ``profit`` and ``benefit`` (``np.bincount``: in patient order)."""
        own = provider[mask]
        # (np.bincount of no patients gives integer zeros even with weights: sums are float64)
        return (
            np.bincount(own, minlength=n_providers),
            np.bincount(own, profit[mask], n_providers).astype(np.float64, copy=False),
            np.bincount(own, benefit[mask], n_providers).astype(np.float64, copy=False),
        )

    @staticmethod
    def learn(
        provider: np.ndarray,
        value: np.ndarray,
        need_z: np.ndarray,
        x: np.ndarray,
        new_episode: np.ndarray,
        xtx: np.ndarray,
        xty: np.ndarray,
        memory: float,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fold a month into each provider's least-squares record, in place: the month's
        ``X'X`` and ``X'y`` of the regressors (1, z, z², x, x², new episode) and ``y = value``
        (sums over the patients in order, as ``np.bincount`` adds them; only the patients
        where ``mask`` is true, if given), then ``record = (1 − memory)·record +
        memory·month`` for the providers with patients. Returns the patients per provider
        (float64)."""
        if mask is not None:
            provider, value, need_z = provider[mask], value[mask], need_z[mask]
            x, new_episode = x[mask], new_episode[mask]
        n_providers = xty.shape[0]
        cols = [None, need_z, need_z * need_z, x, x * x, new_episode.astype(float)]
        k = len(cols)
        mx = np.empty_like(xtx)
        my = np.empty_like(xty)

        def total(w: np.ndarray | None) -> np.ndarray:
            if w is None:  # the constant's own product: a count, as float64
                return np.bincount(provider, minlength=n_providers).astype(np.float64)
            return np.bincount(provider, w, minlength=n_providers)

        # products with the constant column (1.0 · w is w, exactly) need no multiplication;
        # the squares of z and x are the columns 2 and 4 themselves, and the 0/1 column's
        # square is itself: each of those sums is computed once
        same = {(1, 1): (0, 2), (3, 3): (0, 4), (5, 5): (0, 5)}
        for i in range(k):
            my[:, i] = total(value if i == 0 else cols[i] * value)
            for j in range(i, k):
                if (i, j) in same:
                    v = mx[:, same[i, j][0], same[i, j][1]]
                elif i == 0:
                    v = total(cols[j])
                else:
                    v = np.bincount(provider, cols[i] * cols[j], minlength=n_providers)
                mx[:, i, j] = v
                mx[:, j, i] = v
        count = mx[:, 0, 0]
        seen = count > 0
        xtx[seen] = (1 - memory) * xtx[seen] + memory * mx[seen]
        xty[seen] = (1 - memory) * xty[seen] + memory * my[seen]
        return count

    @staticmethod
    def episode_values(
        patients: np.ndarray,
        sought: np.ndarray,
        profit: np.ndarray,
        left: np.ndarray,
        provider: np.ndarray,
        payer: np.ndarray,
        risk_group: np.ndarray,
        value: np.ndarray,
        n_payers: int,
        n_keys: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Episode values (:class:`sim.engine.features.selection.EpisodeValues`): the month's
        ``profit`` of the patients in episode (ascending) who sought care added to their
        episode's ``value``; the episodes that ended (``left == 0``) counted and their values
        summed by key ``(provider · n_payers + payer) · 4 + risk group`` in patient order
        (``np.bincount``, ``n_keys`` keys), and their values reset to 0, in place. Returns the
        counts (int64) and sums (float64)."""
        idx = patients[sought]
        value[idx] += profit[sought]
        ended = idx[left[idx] == 0]
        key = (
            provider[ended].astype(np.int64) * n_payers + payer[ended].astype(np.int64)
        ) * 4 + risk_group[ended]
        count = np.bincount(key, minlength=n_keys)
        total = np.bincount(key, value[ended], minlength=n_keys).astype(np.float64)
        value[ended] = 0.0
        return count, total


class NumbaLearning(CompiledTwin):
    """The compiled twins: the same signatures and bits as :class:`NumpyLearning`."""

    def provider_sums(self, provider, mask, profit, benefit, n_providers):
        """:meth:`NumpyLearning.provider_sums`, compiled."""
        return self._k["provider_sums"](
            provider.astype(np.int64, copy=False),
            mask,
            np.asarray(profit, np.float64),
            np.asarray(benefit, np.float64),
            int(n_providers),
        )

    def learn(self, provider, value, need_z, x, new_episode, xtx, xty, memory, mask=None):
        """:meth:`NumpyLearning.learn`, compiled."""
        return self._k["learn"](
            provider.astype(np.int64, copy=False),
            np.asarray(value, np.float64),
            np.asarray(need_z, np.float64),
            np.asarray(x, np.float64),
            new_episode,
            xtx,
            xty,
            float(memory),
            np.ones(provider.size, np.bool_) if mask is None else mask,
        )

    def episode_values(
        self, patients, sought, profit, left, provider, payer, risk_group, value, n_payers, n_keys
    ):
        """:meth:`NumpyLearning.episode_values`, compiled."""
        return self._k["episode_values"](
            patients.astype(np.int64, copy=False),
            sought,
            np.asarray(profit, np.float64),
            left,
            provider,
            payer,
            risk_group,
            value,
            int(n_payers),
            int(n_keys),
        )
