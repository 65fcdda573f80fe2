"""GradientAccumulation: one update from the mean gradient of several micro-batches.

Memory bounds the batch one device can hold; accumulating the gradients of ``steps``
micro-batches and updating once with their mean trains with a ``steps`` times larger
batch. A growing ``steps`` grows the batch during training, which Smith et al. (2018)
show can replace learning-rate decay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from lbkeras.checks import boundaries_passed, check_boundaries, check_int
from lbkeras.optimizers.control import run_if
from lbkeras.optimizers.wrapper import OptimizerWrapper


@keras.saving.register_keras_serializable(package="lbkeras")
class PiecewiseConstantSteps:
    """Micro-batches per update, constant between boundaries on the number of updates.

    ``values[i]`` from update ``boundaries[i - 1]`` on (the new value starts *at* the
    boundary, as in ``lbkeras.schedules.StepDecay``); ``values[0]`` before the first.
    Boundaries count optimizer updates, not micro-batches: an epoch of ``N`` micro-batches
    has ``N / steps`` updates, fewer once ``steps`` grows.

    Args:
        boundaries: strictly increasing non-negative update counts.
        values: ``len(boundaries) + 1`` micro-batch counts, each ``>= 1``.

    References:
        Smith, Kindermans, Ying, Le, "Don't Decay the Learning Rate, Increase the Batch
        Size", ICLR 2018.

    Example:
        >>> steps = PiecewiseConstantSteps(boundaries=[1000, 2000], values=[1, 5, 25])
        >>> int(steps(1500))
        5
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[int]) -> None:
        self.boundaries = check_boundaries("boundaries", boundaries)
        self.values = [check_int(f"values[{i}]", v, positive=True) for i, v in enumerate(values)]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                f"values must have one more entry than boundaries, got {len(self.values)} "
                f"values for {len(self.boundaries)} boundaries"
            )

    def __call__(self, step: Any) -> Any:
        """The number of micro-batches for update number ``step`` (0-based), an int32 scalar."""
        values = ops.array(self.values, dtype="int32")
        if not self.boundaries:
            return values[0]
        return ops.take(values, boundaries_passed(step, self.boundaries))

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PiecewiseConstantSteps:
        return cls(**config)


@keras.saving.register_keras_serializable(package="lbkeras")
class GradientAccumulation(OptimizerWrapper):
    """Sums the gradients of ``steps`` calls and applies their mean once, as one update.

    Each call to ``apply`` (one micro-batch) adds the gradients to accumulators; the
    call that completes ``steps`` micro-batches hands their mean to the wrapped
    optimizer, which clips it, applies its decoupled weight decay and takes its step,
    then resets the accumulators. So everything the wrapped optimizer does happens once
    per *update*: its step counter (``iterations``, which this wrapper reports, as Keras
    does), the learning-rate schedule and the bias corrections that read it, clipping
    and weight decay. ``micro_steps`` counts the calls. Weight decay is the wrapped
    optimizer's (decoupled for AdamW, coupled for LARS and LAMB), applied once per update.

    ``steps`` may be a schedule: a callable of the number of updates taken so far (an
    integer tensor, like a ``LearningRateSchedule``) returning the number of micro-batches
    for the next update, e.g. ``PiecewiseConstantSteps``. It is read when an
    accumulation starts, so the effective batch can grow during training, as Smith et al.
    (2018) grow the batch instead of decaying the learning rate. For ``model.save`` it
    must be serialisable (registered with ``keras.saving``).

    Keras's own ``Optimizer(gradient_accumulation_steps=N)`` gives the same weights for a
    fixed ``N`` and a constant learning rate on one device (tested with SGD momentum),
    and its ``iterations`` counts updates too. In the Keras of requirements.txt, however,
    its learning-rate schedule reads the micro-step counter, so a schedule runs ``N``
    times too fast (keras-team/keras#19990; verified: with ``N=3`` the first update uses
    the rate of step 2), and under ``MirroredStrategy`` its ``apply`` fails ("merge_call
    called while defining a new graph") because it branches around a cross-replica call.
    This wrapper fixes both, takes a schedule for ``steps``, and composes with lbkeras's wrappers.

    Under ``tf.distribute`` each replica accumulates its own gradients (the accumulators
    are "on read" variables summed over the replicas when saved, and split among them
    when loaded); the update all-reduces the mean once, so micro-batches cost no
    communication. Keras clips each replica's gradient before that all-reduce, with or
    without accumulation. On JAX, which cannot branch around variable assignments, the
    wrapped step is computed at every micro-batch and kept only at updates (as Keras's
    own accumulation does there): the same result, at the optimizer's arithmetic cost
    per micro-batch. It must be the outermost wrapper, inside a
    ``LossScaleOptimizer`` if any (a wrapper around it would bypass the accumulation;
    that raises an error): ``GradientAccumulation(Lookahead(LAMB(...)), 4)``.

    Args:
        optimizer: the ``keras.optimizers.Optimizer`` to wrap.
        steps: micro-batches per update, an int ``>= 1`` or a schedule as above.
        name: the wrapper's name.

    References:
        Smith, Kindermans, Ying, Le, "Don't Decay the Learning Rate, Increase the Batch
        Size", ICLR 2018.
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017
        (the loss is normalised by the global batch: here the mean over micro-batches).

    Example:
        >>> optimizer = lbkeras.optimizers.GradientAccumulation(
        ...     keras.optimizers.SGD(0.1, momentum=0.9), steps=4)  # batch 64 -> 256
        >>> growing = lbkeras.optimizers.GradientAccumulation(
        ...     keras.optimizers.SGD(0.1, momentum=0.9),
        ...     steps=lbkeras.optimizers.PiecewiseConstantSteps([1000, 1500], [1, 5, 25]))
    """

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        steps: int | Callable[[Any], Any] = 2,
        name: str = "gradient_accumulation",
    ) -> None:
        super().__init__(optimizer, name=name)
        if not callable(steps):
            steps = check_int("steps", steps, positive=True)
        self.steps = steps
        # Keras's apply advances self._iterations once per call: here that counts the
        # micro-batches, while the wrapped optimizer's counter counts the updates.
        # (Variables assigned to attributes are tracked, hence saved, automatically.)
        with keras.name_scope(self.name, caller=self):
            self._iterations = keras.Variable(
                0,
                name="micro_steps",
                dtype="int",
                trainable=False,
                aggregation="only_first_replica",
            )
        self._applying = False

    @property
    def iterations(self):
        """The number of updates taken: the wrapped optimizer's step counter."""
        return self.inner_optimizer.iterations

    @property
    def micro_steps(self):
        """The number of calls to ``apply`` (micro-batches) so far."""
        return self._iterations

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        with keras.name_scope(self.name, caller=self):
            # How many micro-batches the accumulators hold.
            self._accumulated = keras.Variable(
                0,
                name="accumulated",
                dtype="int",
                trainable=False,
                aggregation="only_first_replica",
            )
            self._accumulators = [
                keras.Variable(
                    "zeros",
                    shape=variable.shape,
                    dtype=variable.dtype,
                    trainable=False,
                    aggregation="sum",
                    synchronization="on_read",  # one sum per replica; see the docstring
                    name=f"{variable.path.replace('/', '_')}_accumulator",
                    layout=getattr(variable, "_layout", None),  # sharded like the variable
                )
                for variable in var_list
            ]
        # Tracked explicitly: a LossScaleOptimizer builds this one with attribute tracking
        # off, and untracked state would be neither saved nor threaded through JAX's
        # stateless step (where the accumulation would then never complete).
        tracked = {id(v) for v in self._variables}
        for variable in (self._accumulated, *self._accumulators):
            if id(variable) not in tracked:
                self._track_variable(variable)

    def steps_for_next_update(self):
        """The micro-batches of the current accumulation: ``steps`` at the update count."""
        if not callable(self.steps):
            return ops.convert_to_tensor(self.steps, dtype=self._accumulated.dtype)
        steps = ops.round(ops.cast(self.steps(self.iterations), "float32"))
        return ops.maximum(ops.cast(steps, self._accumulated.dtype), 1)

    def _backend_apply_gradients(self, grads, trainable_variables):
        self._observe_local(grads)
        accumulators = [
            self._accumulators[self._get_variable_index(v)] for v in trainable_variables
        ]
        count = ops.convert_to_tensor(self._accumulated) + 1  # with this micro-batch
        update = ops.greater_equal(count, self.steps_for_next_update())
        totals = [ops.add(a, ops.cast(g, a.dtype)) for a, g in zip(accumulators, grads)]
        means = [total / ops.cast(count, total.dtype) for total in totals]

        def step(means):
            grads = self._clip_gradients(means)
            self._apply_weight_decay(trainable_variables)
            self._backend_update_step(grads, trainable_variables, self.learning_rate)
            self.inner_optimizer._iterations.assign_add(1)

        self._applying = True
        try:
            run_if(
                update, step, means, state=[*trainable_variables, *self.inner_optimizer.variables]
            )
        finally:
            self._applying = False
        for accumulator, total in zip(accumulators, totals):
            self.assign(accumulator, ops.where(update, ops.zeros_like(total), total))
        self.assign(self._accumulated, ops.where(update, ops.zeros_like(count), count))

    def update_step(self, gradient, variable, learning_rate):
        if not self._applying:
            raise RuntimeError(
                "GradientAccumulation must be the outermost optimizer wrapper (inside a "
                "LossScaleOptimizer, if any): a wrapper around it bypasses the accumulation"
            )
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        config = super().get_config()
        steps = self.steps
        config["steps"] = keras.saving.serialize_keras_object(steps) if callable(steps) else steps
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        if isinstance(config["steps"], dict):
            config["steps"] = keras.saving.deserialize_keras_object(
                config["steps"], custom_objects=custom_objects
            )
        return super().from_config(config, custom_objects=custom_objects)
