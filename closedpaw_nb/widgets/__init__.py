"""ipywidgets panels: register providers, compare them live, watch their health, benchmark,
rank them on a question set, vote blind on their answers in an arena.

```python
from closedpaw_nb.widgets import app
app()                      # six tabs sharing one ProviderManager
```

Each panel also works alone (`RegistrationPanel()`, `ComparisonPanel()`,
`HealthDashboard()`, `BenchmarkPanel()`, `LeaderboardPanel()`, `ArenaPanel()`), takes an
optional `manager=`, and does its network work on closedpaw_nb's background runner loop,
so the kernel never freezes. API keys typed into the Providers tab are removed from the
form when Register is pressed, so they never reach the notebook file.
"""

from __future__ import annotations

from .app import ClosedPawApp, app
from .arena import ArenaPanel
from .benchmark import BenchmarkPanel
from .comparison import ComparisonPanel
from .health import HealthDashboard
from .leaderboard import LeaderboardPanel
from .registration import RegistrationPanel

__all__ = [
    "ArenaPanel",
    "BenchmarkPanel",
    "ClosedPawApp",
    "ComparisonPanel",
    "HealthDashboard",
    "LeaderboardPanel",
    "RegistrationPanel",
    "app",
]
