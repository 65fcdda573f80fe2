"""The event-file readers the tests use: scalars (they live in lbkeras.monitoring.events),
and the HParams table as TensorBoard's own plugin backend computes it."""

from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

from lbkeras.monitoring.events import read_scalars, scalar_tags

__all__ = ["hparams_table", "read_scalars", "scalar_tags"]


def hparams_table(logdir: str) -> dict[str, dict[str, float]]:
    """``{session run: {metric display name: value}}``: the cells of the HParams
    dashboard's table for ``tensorboard --logdir=logdir``, blank cells left out.

    Runs the plugin's request handlers (those behind ``/data/plugin/hparams/experiment``
    and ``/session_groups``) on TensorBoard's data provider for ``logdir``, as the server
    does, without the HTTP server.
    """
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    backend = backend_context.Context(base_plugin.TBContext(data_provider=provider, logdir=logdir))
    request_context = context.RequestContext()
    experiment = backend.experiment_from_metadata(
        request_context,
        "",
        True,
        backend.hparams_metadata(request_context, ""),
        backend.hparams_from_data_provider(request_context, "", limit=None),
    )
    names = {
        (info.name.group, info.name.tag): info.display_name or info.name.tag
        for info in experiment.metric_infos
    }
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0, slice_size=100, allowed_statuses=list(api_pb2.Status.values())
    )
    response = list_session_groups.Handler(request_context, backend, "", request).run()
    return {
        session.name: {
            names[(value.name.group, value.name.tag)]: value.value
            for value in session.metric_values
        }
        for group in response.session_groups
        for session in group.sessions
    }
