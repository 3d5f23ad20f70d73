"""First-party plugin: the recorder's own inputs, through JACK (JACK2, or PipeWire's JACK).

Each configured input is a JACK input port of the hub and a sub-device of the hub's kind
``local_input``: a track of every take, uploaded on the primary channel (the recorder's own; no
channel of its own). ``docs/inputs.md`` is the guide.

The plugin's hooks are in :mod:`c2c_hub_plugins.jack_inputs.plugin` (the entry point), not
here: the capture process imports this package too, and must stay small (``jack``, numpy and
the ring; not the hub). The source reaches the hub through the plugin kit (:mod:`c2c_hub.kit`)
alone:

- :mod:`c2c_hub_plugins.jack_inputs.source`: the source: starts the capture process, drains
  its ring, attaches and detaches the inputs;
- :mod:`c2c_hub_plugins.jack_inputs.capture`: the capture process, the JACK client with its
  ports and connections, out of the hub's process (no hub imports);
- :mod:`c2c_hub_plugins.jack_inputs.ring`: the shared-memory buffer between JACK's real-time
  thread and the hub (no hub imports);
- :mod:`c2c_hub_plugins.jack_inputs.emulated`: a JACK client playing known signals, computed
  from the JACK frame time (``python -m c2c_hub_plugins.jack_inputs.emulated``).

Options (``[plugins.options.jack_inputs]``): :class:`~c2c_hub_plugins.jack_inputs.options.Options`.
"""
