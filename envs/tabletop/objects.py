"""Primitive-shape objects of the tabletop suite: coloured cubes and cylinders, bowl, plate, basket.

Every object is built from MuJoCo primitive geoms only (boxes, cylinders), so the scene compiles
fast and renders cheaply with software OpenGL. ``OBJECTS`` describes each object's geometry
(resting height, footprint) for layout sampling, success predicates and the scripted experts.
"""

from __future__ import annotations

from dataclasses import dataclass

from robosuite.models.objects import BoxObject, CompositeObject, CylinderObject, MujocoObject

COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.10, 0.10, 1.0),
    "green": (0.10, 0.70, 0.20, 1.0),
    "blue": (0.15, 0.30, 0.90, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
    "orange": (1.00, 0.50, 0.05, 1.0),
    "purple": (0.55, 0.20, 0.75, 1.0),
}

CUBE_HALF = 0.02  # cube half side (m)
CYL_RADIUS = 0.02
CYL_HALF_HEIGHT = 0.03


@dataclass(frozen=True)
class ObjectInfo:
    """Geometry facts about one scene object (metres)."""

    name: str
    kind: str  # "cube" | "cylinder" | "bowl" | "plate" | "basket"
    half_height: float  # centre height above the table top when resting
    radius: float  # footprint radius used to keep objects apart when sampling layouts
    inner_half: float = 0.0  # containers: inner half extent (square) or plate radius
    floor_top: float = 0.0  # containers: height of the inside floor above the body centre
    colour: str = ""

    @property
    def graspable(self) -> bool:
        return self.kind in ("cube", "cylinder")

    @property
    def phrase(self) -> str:
        """How instructions name the object, e.g. ``"red cube"`` or ``"bowl"``."""
        return f"{self.colour} {self.kind}" if self.colour else self.kind


BOWL_INNER, BOWL_WALL_H, BASE_HALF = 0.055, 0.035, 0.005
BASKET_INNER, BASKET_WALL_H = 0.07, 0.06
PLATE_RADIUS, PLATE_HALF = 0.07, 0.006
WALL_T = 0.005  # wall half thickness

OBJECTS: dict[str, ObjectInfo] = {
    "red_cube": ObjectInfo("red_cube", "cube", CUBE_HALF, 0.035, colour="red"),
    "green_cube": ObjectInfo("green_cube", "cube", CUBE_HALF, 0.035, colour="green"),
    "blue_cube": ObjectInfo("blue_cube", "cube", CUBE_HALF, 0.035, colour="blue"),
    "yellow_cube": ObjectInfo("yellow_cube", "cube", CUBE_HALF, 0.035, colour="yellow"),
    "orange_cylinder": ObjectInfo("orange_cylinder", "cylinder", CYL_HALF_HEIGHT, 0.03, colour="orange"),
    "purple_cylinder": ObjectInfo("purple_cylinder", "cylinder", CYL_HALF_HEIGHT, 0.03, colour="purple"),
    "bowl": ObjectInfo(
        "bowl", "bowl", (2 * BASE_HALF + BOWL_WALL_H) / 2, 0.085, BOWL_INNER,
        floor_top=BASE_HALF * 2 - (2 * BASE_HALF + BOWL_WALL_H) / 2,
    ),
    "plate": ObjectInfo("plate", "plate", PLATE_HALF, 0.085, PLATE_RADIUS, floor_top=PLATE_HALF),
    "basket": ObjectInfo(
        "basket", "basket", (2 * BASE_HALF + BASKET_WALL_H) / 2, 0.10, BASKET_INNER,
        floor_top=BASE_HALF * 2 - (2 * BASE_HALF + BASKET_WALL_H) / 2,
    ),
}

CONTAINER_RGBA = {
    "bowl": (0.95, 0.95, 0.92, 1.0),
    "plate": (0.70, 0.80, 0.90, 1.0),
    "basket": (0.55, 0.35, 0.15, 1.0),
}


def _tray(name: str, inner: float, wall_h: float, rgba: tuple[float, ...]) -> CompositeObject:
    """An open square container: a base plate and four walls (box geoms), centred at the body."""
    outer = inner + 2 * WALL_T
    half_h = (2 * BASE_HALF + wall_h) / 2
    wall_z = -half_h + 2 * BASE_HALF + wall_h / 2
    geoms = [
        ((outer, outer, BASE_HALF), (0.0, 0.0, -half_h + BASE_HALF)),
        ((WALL_T, outer, wall_h / 2), (inner + WALL_T, 0.0, wall_z)),
        ((WALL_T, outer, wall_h / 2), (-inner - WALL_T, 0.0, wall_z)),
        ((outer, WALL_T, wall_h / 2), (0.0, inner + WALL_T, wall_z)),
        ((outer, WALL_T, wall_h / 2), (0.0, -inner - WALL_T, wall_z)),
    ]
    return CompositeObject(
        name=name,
        total_size=[outer, outer, half_h],
        geom_types=["box"] * len(geoms),
        geom_sizes=[list(s) for s, _ in geoms],
        geom_locations=[list(p) for _, p in geoms],
        geom_rgbas=[list(rgba)] * len(geoms),
        geom_frictions=[[1.0, 0.005, 0.0001]] * len(geoms),
        density=800.0,
        locations_relative_to_center=True,
    )


def build_object(name: str) -> MujocoObject:
    """Build the robosuite object model for ``name`` (a key of ``OBJECTS``)."""
    if name not in OBJECTS:
        raise ValueError(f"object name: expected one of {sorted(OBJECTS)}, got {name!r}")
    info = OBJECTS[name]
    if info.kind == "cube":
        h = CUBE_HALF
        return BoxObject(name=name, size=[h, h, h], rgba=list(COLOURS[info.colour]), density=500.0,
                         friction=[1.5, 0.005, 0.0001])
    if info.kind == "cylinder":
        return CylinderObject(name=name, size=[CYL_RADIUS, CYL_HALF_HEIGHT], rgba=list(COLOURS[info.colour]),
                              density=500.0, friction=[1.5, 0.005, 0.0001])
    if info.kind == "plate":
        return CylinderObject(name=name, size=[PLATE_RADIUS, PLATE_HALF], rgba=list(CONTAINER_RGBA["plate"]),
                              density=1500.0, friction=[1.0, 0.005, 0.0001])
    if info.kind == "bowl":
        return _tray(name, BOWL_INNER, BOWL_WALL_H, CONTAINER_RGBA["bowl"])
    return _tray(name, BASKET_INNER, BASKET_WALL_H, CONTAINER_RGBA["basket"])
