"""Memristive device models, their non-idealities, published presets, device files and aihwkit interop.

Layer 1 of memprop (devices -> crossbar -> networks -> solvers -> learning -> experiments): a
device is a frozen config whose pure ``update(g, n_pulses, *, generator)`` moves conductances
by signed pulse counts along the model's closed-form curve, and whose ``read`` adds read noise.
"""

from .aihwkit import export_device as export_device
from .aihwkit import from_aihwkit as from_aihwkit
from .aihwkit import import_device as import_device
from .aihwkit import to_aihwkit as to_aihwkit
from .base import AbstractDevice as AbstractDevice
from .base import AbstractPulsedDevice as AbstractPulsedDevice
from .base import pulse_energy as pulse_energy
from .constant import ConstantStepDevice as ConstantStepDevice
from .exponential import ExpStepDevice as ExpStepDevice
from .exponential import a_of_nl as a_of_nl
from .exponential import c_to_nl as c_to_nl
from .exponential import nl_to_c as nl_to_c
from .ideal import IdealDevice as IdealDevice
from .nonideal import NonIdeal as NonIdeal
from .power import PowerStepDevice as PowerStepDevice
from .presets import PRESET_SOURCES as PRESET_SOURCES
from .presets import PRESETS as PRESETS
from .presets import preset_table as preset_table
from .presets import preset_toml as preset_toml
from .presets import resolve_device as resolve_device
from .softbounds import SoftBoundsDevice as SoftBoundsDevice
from .toml import MODELS as MODELS
from .toml import device_from_dict as device_from_dict
from .toml import device_to_dict as device_to_dict
from .toml import device_to_toml as device_to_toml
from .toml import load_device as load_device
from .toml import save_device as save_device
