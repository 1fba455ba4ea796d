"""The Flower federation both baselines share: legacy start_simulation (Ray) + FedAvg
weighted by examples + centralised evaluation after every round."""
import json
import os
import platform
import subprocess
import time

import torch
import flwr as fl
from flwr.common import ndarrays_to_parameters

import common


def base_args(p):
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--server-threads", type=int, default=2)
    p.add_argument("--client-threads", type=int, default=1)
    p.add_argument("--out", default=None)
    return p


def run(args, client_fn, extra_config=None, after=None):
    """Run the federation; `after(history, result)` may add fields (e.g. ε) before writing."""
    torch.set_num_threads(args.server_threads)
    model = common.new_model(args.seed)
    init = ndarrays_to_parameters(common.get_params(model))
    common.load_split(False)  # decode the test set before the clock starts
    rounds, t_last = [], [None]

    def evaluate_fn(server_round, parameters, config):
        common.set_params(model, parameters)
        loss, acc = common.evaluate(model)
        now = time.perf_counter()
        if server_round > 0:
            rounds.append({"round": server_round, "accuracy": acc, "loss": loss,
                           "seconds": now - t_last[0]})
            print(f"round {server_round}: accuracy {acc * 100:.2f} % loss {loss:.4f} "
                  f"({now - t_last[0]:.1f} s)", flush=True)
        else:
            print(f"round 0 (initial): accuracy {acc * 100:.2f} %", flush=True)
        t_last[0] = now
        return loss, {"accuracy": acc}

    fit_metrics = []

    def fit_agg(results):
        fit_metrics.append([m for _, m in results])
        return {}

    strategy = fl.server.strategy.FedAvg(
        fraction_fit=1.0, min_fit_clients=args.clients, min_available_clients=args.clients,
        fraction_evaluate=0.0, min_evaluate_clients=0,
        initial_parameters=init, evaluate_fn=evaluate_fn,
        fit_metrics_aggregation_fn=fit_agg,
        on_fit_config_fn=lambda r: {"server_round": r},
    )
    t0 = time.perf_counter()
    hist = fl.simulation.start_simulation(
        client_fn=client_fn, num_clients=args.clients,
        config=fl.server.ServerConfig(num_rounds=args.rounds), strategy=strategy,
        client_resources={"num_cpus": 1, "num_gpus": 0.0},
        ray_init_args={"num_cpus": os.cpu_count(), "include_dashboard": False,
                       "object_store_memory": 512 * 1024 * 1024, "ignore_reinit_error": True,
                       "runtime_env": {"env_vars": {"PYTHONPATH": common.HERE,
                                                    "OMP_WAIT_POLICY": "PASSIVE",
                                                    "OMP_NUM_THREADS": str(args.client_threads)}}},
    )
    total = time.perf_counter() - t0
    result = {
        "config": {**{k: v for k, v in vars(args).items() if k != "out"}, **(extra_config or {}),
                   "flwr": fl.__version__, "torch": torch.__version__,
                   "mode": "flwr.simulation.start_simulation (Ray), legacy API",
                   "python": platform.python_version(), "cpus": os.cpu_count(),
                   "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                   "uptime_before": args.uptime_before,
                   "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
        "rounds": rounds,
        "final_accuracy": rounds[-1]["accuracy"] if rounds else None,
        "total_seconds": total,
        "rounds_seconds": sum(r["seconds"] for r in rounds),
    }
    if after:
        after(fit_metrics, result)
    print(f"final accuracy {result['final_accuracy'] * 100:.2f} %, total {total:.1f} s "
          f"(rounds only {result['rounds_seconds']:.1f} s)", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return result


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
