#!/usr/bin/python3
"""Golden values for normlab's optimizers and learning-rate schedules, from PyTorch 1.13.

Run with Debian's torch:  /usr/bin/python3 tools/gen_optim_goldens.py
Writes small .npy files to tests/golden/optim/ (read by tests/layers/optim/test_*.cpp):

  inputs_init.npy         (16,)       initial parameters: w (3, 4) flattened, then b (4,)
  inputs_grads.npy        (6, 16)     the gradient handed to the optimizer at each step, same layout
  <case>_<f32|f64>.npy    (6, 16)     the parameters after each step, torch.optim in that dtype
  lr_<schedule>.npy       (n,)        lr for step 0..n-1 of a torch.optim.lr_scheduler

Inputs are float32-representable, so the same values start both dtypes. The learning rate is
halved after step 3 (group['lr'] = lr / 2), as a schedule would do. In cases with "no_decay",
b sits in a parameter group with weight_decay 0, as biases and norm γ/β are usually excluded.
"""
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "optim")
STEPS = 6

# name: (optimizer class, kwargs, b excluded from weight decay)
CASES = {
    "sgd_plain": (torch.optim.SGD, dict(lr=0.1), False),
    "sgd_weight_decay": (torch.optim.SGD, dict(lr=0.1, weight_decay=0.05), False),
    "sgd_momentum": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01), True),
    "sgd_dampening": (torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3,
                                             weight_decay=0.02), False),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True,
                                            weight_decay=0.05), True),
    "adam": (torch.optim.Adam, dict(lr=0.01), False),
    "adam_weight_decay": (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6,
                                                 weight_decay=0.1), True),
    "adam_amsgrad": (torch.optim.Adam, dict(lr=0.01, weight_decay=0.01, amsgrad=True), False),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1), True),
    "adamw_amsgrad": (torch.optim.AdamW, dict(lr=0.02, betas=(0.85, 0.99), weight_decay=0.05,
                                              amsgrad=True), False),
}


def f32_exact(a):
    return a.astype(np.float32).astype(np.float64)


def make_inputs():
    rng = np.random.default_rng(20240601)
    init = f32_exact(rng.standard_normal(16))
    # Gradient scales vary from step to step, so AMSGrad's running maximum differs from v_t.
    scales = np.array([1.0, 3.0, 0.5, 2.0, 0.2, 1.0])[:, None]
    grads = f32_exact(rng.standard_normal((STEPS, 16)) * scales)
    return init, grads


def run_case(cls, kwargs, no_decay, init, grads, dtype):
    w = torch.tensor(init[:12].reshape(3, 4), dtype=dtype, requires_grad=True)
    b = torch.tensor(init[12:], dtype=dtype, requires_grad=True)
    groups = [{"params": [w]}, {"params": [b]}]
    if no_decay:
        groups[1]["weight_decay"] = 0.0
    opt = cls(groups, **kwargs)
    out = np.zeros((STEPS, 16))
    for k in range(STEPS):
        if k == 3:
            for g in opt.param_groups:
                g["lr"] = g["lr"] / 2
        w.grad = torch.tensor(grads[k, :12].reshape(3, 4), dtype=dtype)
        b.grad = torch.tensor(grads[k, 12:], dtype=dtype)
        opt.step()
        out[k] = np.concatenate([w.detach().double().numpy().ravel(), b.detach().double().numpy()])
    return out


def schedule_values(make, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(lrs)


def main():
    os.makedirs(OUT, exist_ok=True)
    init, grads = make_inputs()
    np.save(os.path.join(OUT, "inputs_init.npy"), init)
    np.save(os.path.join(OUT, "inputs_grads.npy"), grads)
    for name, (cls, kwargs, no_decay) in CASES.items():
        for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
            out = run_case(cls, kwargs, no_decay, init, grads, dtype)
            if dtype == torch.float32:
                out = out.astype(np.float32)
            np.save(os.path.join(OUT, f"{name}_{tag}.npy"), out)

    S = torch.optim.lr_scheduler
    schedules = {
        "multistep": lambda o: S.MultiStepLR(o, milestones=[3, 7], gamma=0.1),
        "cosine": lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        "warmup": lambda o: S.LinearLR(o, start_factor=0.25, total_iters=4),
        "warmup_multistep": lambda o: S.ChainedScheduler([
            S.LinearLR(o, start_factor=0.1, total_iters=5),
            S.MultiStepLR(o, milestones=[8, 12], gamma=0.1)]),
        "warmup_cosine": lambda o: S.ChainedScheduler([
            S.LinearLR(o, start_factor=0.2, total_iters=3),
            S.CosineAnnealingLR(o, T_max=12)]),
    }
    for name, make in schedules.items():
        np.save(os.path.join(OUT, f"lr_{name}.npy"), schedule_values(make, 25))


if __name__ == "__main__":
    main()
