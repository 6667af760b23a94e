"""The ten tabletop tasks: seeded layout + instruction sampling and state-based success predicates.

A task turns a seed into an ``Episode`` (instruction, object layout, target, goal) with its own
``numpy`` generator, so a seed fully determines the episode. ``success`` reads the simulator
state only (object poses, finger contacts) and is what ``info["success"]`` reports.

Directions are those of the ``agentview`` image: "left" is image-left (world -y), "right" is
image-right (+y), "front" is toward the camera, away from the robot (+x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.tabletop.objects import OBJECTS, PLATE_RADIUS
from envs.tabletop.scene import TABLE_OFFSET, TABLE_TOP_Z, Layout, TabletopScene

CUBES = ("red_cube", "green_cube", "blue_cube", "yellow_cube")
GRASPABLES = CUBES + ("orange_cylinder", "purple_cylinder")
X_RANGE = (-0.13, 0.13)  # workspace, table-centre frame (m)
Y_RANGE = (-0.22, 0.22)
DIRECTIONS = {"left": np.array([0.0, -1.0]), "right": np.array([0.0, 1.0]), "front": np.array([1.0, 0.0])}
LIFT_HEIGHT = 0.05  # pick success: lifted this far above the resting height
PUSH_DISTANCE = 0.10  # push success: moved this far along the direction


@dataclass(frozen=True)
class Episode:
    """Everything that defines one episode of a task."""

    task: str
    seed: int
    instruction: str
    layout: Layout
    target: str  # the object to manipulate
    goal: str  # container / object to place on, or push direction; "" for pick


def _dist_to_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def sample_positions(rng: np.random.Generator, names: list[str], fixed: dict[str, np.ndarray] | None = None,
                     corridor: tuple[np.ndarray, np.ndarray, str] | None = None,
                     x_range: tuple[float, float] = X_RANGE, y_range: tuple[float, float] = Y_RANGE,
                     ) -> dict[str, np.ndarray]:
    """Non-overlapping xy positions (rejection sampling); ``corridor`` keeps others off a segment."""
    placed: dict[str, np.ndarray] = dict(fixed or {})
    for name in names:
        for _ in range(2000):
            p = np.array([rng.uniform(*x_range), rng.uniform(*y_range)])
            r = OBJECTS[name].radius
            if any(np.linalg.norm(p - q) < r + OBJECTS[n].radius + 0.01 for n, q in placed.items()):
                continue
            if corridor is not None and name != corridor[2]:
                if _dist_to_segment(p, corridor[0], corridor[1]) < r + 0.05:
                    continue
            placed[name] = p
            break
        else:
            raise RuntimeError(f"could not place {name!r} without overlap")
    return placed


class TaskDef:
    """Base class: a named task with phrasings, a layout sampler and a success predicate."""

    name: str = ""
    kind: str = ""  # "pick" | "place" | "stack" | "push"
    max_steps: int = 200
    templates: tuple[str, ...] = ()
    description: str = ""

    def sample(self, seed: int) -> Episode:
        rng = np.random.default_rng(seed)
        target, goal, poses = self._layout(rng)
        yaws = {n: float(rng.uniform(-0.6, 0.6)) if OBJECTS[n].graspable else float(rng.uniform(-0.3, 0.3))
                for n in poses}
        template = self.templates[int(rng.integers(len(self.templates)))]
        instruction = template.format(obj=OBJECTS[target].phrase,
                                      goal=OBJECTS[goal].phrase if goal in OBJECTS else goal)
        noise = rng.normal(0.0, 0.02, size=7)
        layout = Layout(poses={n: (float(p[0]), float(p[1]), yaws[n]) for n, p in poses.items()},
                        robot_qpos_noise=noise)
        return Episode(self.name, int(seed), instruction, layout, target, goal)

    def _layout(self, rng: np.random.Generator) -> tuple[str, str, dict[str, np.ndarray]]:
        raise NotImplementedError

    def success(self, scene: TabletopScene, ep: Episode) -> bool:
        raise NotImplementedError


def _rest_z(name: str) -> float:
    return TABLE_TOP_Z + OBJECTS[name].half_height


def _distractors(rng: np.random.Generator, exclude: tuple[str, ...], k: int) -> list[str]:
    pool = [n for n in GRASPABLES if n not in exclude]
    return [str(n) for n in rng.choice(pool, size=k, replace=False)]


class PickTask(TaskDef):
    kind = "pick"
    max_steps = 150
    templates = ("pick up the {obj}", "lift the {obj}", "grab the {obj} and lift it up")
    description = "three cubes of different colours (and maybe a cylinder); lift the named one"

    def __init__(self, name: str = "PickCube"):
        self.name = name

    def _layout(self, rng):
        cubes = [str(c) for c in rng.choice(CUBES, size=3, replace=False)]
        names = cubes + (["orange_cylinder"] if rng.random() < 0.5 else [])
        return cubes[0], "", sample_positions(rng, names)

    def success(self, scene, ep):
        return bool(scene.object_pos(ep.target)[2] - _rest_z(ep.target) > LIFT_HEIGHT)


def in_container(scene: TabletopScene, obj: str, container: str) -> bool:
    """``obj`` rests inside ``container`` (bowl/basket: within the walls; plate: on top)."""
    p, c = scene.object_pos(obj), scene.object_pos(container)
    yaw = scene.object_yaw(container)
    d = p[:2] - c[:2]
    local = np.array([np.cos(yaw) * d[0] + np.sin(yaw) * d[1], -np.sin(yaw) * d[0] + np.cos(yaw) * d[1]])
    info = OBJECTS[container]
    floor = c[2] + info.floor_top
    if info.kind == "plate":
        inside = np.linalg.norm(local) < PLATE_RADIUS
    else:
        inside = bool(np.all(np.abs(local) < info.inner_half))
    resting = floor < p[2] < floor + OBJECTS[obj].half_height + 0.02
    return bool(inside and resting and not scene.is_grasped(obj))


class PlaceTask(TaskDef):
    kind = "place"
    max_steps = 220

    def __init__(self, name: str, container: str, templates: tuple[str, ...], extra_container: str = ""):
        self.name, self.container, self.templates = name, container, templates
        self.extra_container = extra_container
        both = f" and a {extra_container}" if extra_container else ""
        self.description = f"a {container}{both} and several objects; put the named object {container}"

    def _layout(self, rng):
        # sorted: ChooseBowl and ChoosePlate draw the same scene from the same seed
        containers = sorted([self.container] + ([self.extra_container] if self.extra_container else []))
        containers = [containers[i] for i in rng.permutation(len(containers))]
        target = str(rng.choice(GRASPABLES))
        k = 1 if self.extra_container else int(rng.integers(1, 3))
        names = containers + [target] + _distractors(rng, (target,), k)
        return target, self.container, sample_positions(rng, names)

    def success(self, scene, ep):
        return in_container(scene, ep.target, ep.goal)


class StackTask(TaskDef):
    kind = "stack"
    max_steps = 220
    templates = ("stack the {obj} on the {goal}", "put the {obj} on top of the {goal}",
                 "place the {obj} onto the {goal}")
    description = "three cubes; stack the first named cube on the second"

    def __init__(self, name: str = "StackCubes"):
        self.name = name

    def _layout(self, rng):
        cubes = [str(c) for c in rng.choice(CUBES, size=3, replace=False)]
        return cubes[0], cubes[1], sample_positions(rng, cubes)

    def success(self, scene, ep):
        a, b = scene.object_pos(ep.target), scene.object_pos(ep.goal)
        dz = a[2] - b[2] - (OBJECTS[ep.target].half_height + OBJECTS[ep.goal].half_height)
        aligned = np.linalg.norm(a[:2] - b[:2]) < 0.025
        return bool(aligned and abs(dz) < 0.01 and not scene.is_grasped(ep.target))


class PushTask(TaskDef):
    kind = "push"
    max_steps = 180

    def __init__(self, name: str, direction: str):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction: expected one of {sorted(DIRECTIONS)}, got {direction!r}")
        self.name, self.direction = name, direction
        word = {"left": "left", "right": "right", "front": "front"}[direction]
        self.templates = (f"push the {{obj}} to the {word}", f"slide the {{obj}} to the {word}",
                          f"nudge the {{obj}} toward the {word}")
        self.description = f"two or three objects; push the named cube {PUSH_DISTANCE:.2f} m to the {word}"

    def _layout(self, rng):
        d = DIRECTIONS[self.direction]
        target = str(rng.choice(CUBES))  # tall cylinders tip over when pushed low
        if self.direction == "front":
            xr, yr = (-0.13, 0.03), Y_RANGE
        else:
            xr, yr = X_RANGE, ((-0.08, 0.2) if self.direction == "left" else (-0.2, 0.08))
        p0 = sample_positions(rng, [target], x_range=xr, y_range=yr)
        corridor = (p0[target] - 0.12 * d, p0[target] + 0.2 * d, target)
        names = _distractors(rng, (target,), int(rng.integers(1, 3)))
        return target, self.direction, sample_positions(rng, names, fixed=p0, corridor=corridor)

    def success(self, scene, ep):
        x, y, _ = ep.layout.poses[ep.target]
        start = np.array([x, y]) + TABLE_OFFSET[:2]
        p = scene.object_pos(ep.target)
        moved = float(np.dot(p[:2] - start, DIRECTIONS[self.direction]))
        on_table = abs(p[2] - _rest_z(ep.target)) < 0.02
        return bool(moved >= PUSH_DISTANCE and on_table)


_PUT_IN = ("put the {obj} in the {goal}", "place the {obj} into the {goal}", "drop the {obj} in the {goal}")
_PUT_ON = ("put the {obj} on the {goal}", "place the {obj} onto the {goal}", "set the {obj} down on the {goal}")

TASKS: dict[str, TaskDef] = {
    t.name: t
    for t in (
        PickTask("PickCube"),
        PlaceTask("PutInBowl", "bowl", _PUT_IN),
        PlaceTask("PutOnPlate", "plate", _PUT_ON),
        PlaceTask("PutInBasket", "basket", _PUT_IN),
        StackTask("StackCubes"),
        PushTask("PushLeft", "left"),
        PushTask("PushRight", "right"),
        PushTask("PushFront", "front"),
        # same scene (bowl + plate + two objects): only the instruction says where to put it
        PlaceTask("ChooseBowl", "bowl", _PUT_IN, extra_container="plate"),
        PlaceTask("ChoosePlate", "plate", _PUT_ON, extra_container="bowl"),
    )
}


def get_task(name: str) -> TaskDef:
    if name not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]
