"""What qwenops' tests, demo and benchmarks run the operator against (not shipped with it).

* :mod:`qwenops_testing.emulator`: an emulated Kubernetes API (kmock, with the API's conventions);
* :mod:`qwenops_testing.faults`: faults injected into it (errors, delays, cut watches);
* :mod:`qwenops_testing.prometheus`: a real Prometheus on loopback;
  :mod:`qwenops_testing.prometheus_stand_in`: a Prometheus stand-in that can break on purpose;
* :mod:`qwenops_testing.operator`: the real operator as a subprocess;
  :mod:`qwenops_testing.cluster`: a client writing as kubectl would, and what it reads back;
* :mod:`qwenops_testing.manifests`: QwenDeployment manifests.
"""
