"""``run_if``: run variable assignments only where a condition holds, on every backend.

Keras gives ``keras.ops.cond``, but an optimizer step cannot use it alike everywhere:
JAX traces both branches and forbids assigning variables inside them, and TensorFlow
under ``MirroredStrategy`` forbids a ``cond`` around a cross-replica call. Wrappers that
act only at some steps (``GradientAccumulation`` at updates, ``Lookahead`` at
synchronisations) branch through this one helper instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import ops


def run_if(condition, fn: Callable, *args, state: Sequence) -> None:
    """Calls ``fn(*args)`` for its effect on variables only where ``condition`` holds.

    ``fn`` may assign any of the variables in ``state`` and, in a replica context, may
    contain cross-replica calls (the wrapped optimizer's all-reduce and update).

    - JAX: ``fn`` runs always, then the variables in ``state`` keep their old values where
      ``condition`` is false (as Keras's JAX optimizer does for its accumulation). The
      cost of ``fn`` is paid at every call; under XLA the selection is fused.
    - TensorFlow in the replica context of a strategy that merges calls
      (``MirroredStrategy``): branch in the cross-replica context and re-enter the
      replicas, as Keras's ``LossScaleOptimizer`` does. The ``args`` are passed through
      per replica; ``fn`` must not capture replica-local tensors.
    - Otherwise (TensorFlow on one device, or inside ``extended.update`` where an
      optimizer's ``update_step`` runs; torch): a ``keras.ops.cond``, so ``fn`` costs
      nothing when ``condition`` is false.

    Args:
        condition: a boolean scalar tensor.
        fn: the function to run; its return value is ignored.
        *args: passed to ``fn``.
        state: every variable ``fn`` may assign.

    Example:
        >>> slow, fast = keras.Variable(0.0), keras.Variable(3.0)
        >>> for step in (4, 5):
        ...     run_if(ops.equal(step % 5, 0), lambda: slow.assign(fast), state=[slow])
        ...     print(step, float(slow.numpy()))
        4 0.0
        5 3.0
    """
    if keras.backend.backend() == "jax":
        before = [ops.convert_to_tensor(v) for v in state]
        fn(*args)
        for variable, value in zip(state, before):
            variable.assign(ops.where(condition, ops.convert_to_tensor(variable), value))
        return
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # only on this backend: JAX-only machines have no TensorFlow

        replica_context = tf.distribute.get_replica_context()
        if (
            replica_context is not None
            and not tf.__internal__.distribute.strategy_supports_no_merge_call()
        ):

            def cross_replica(distribution, condition, *args):
                condition = distribution.experimental_local_results(condition)[0]
                ops.cond(
                    condition,
                    lambda: distribution.extended.call_for_each_replica(fn, args=args),
                    lambda: None,
                )

            replica_context.merge_call(cross_replica, args=(condition, *args))
            return
    ops.cond(condition, lambda: fn(*args), lambda: None)
