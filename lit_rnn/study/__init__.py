"""A sweep's study: its settings (``settings``), the search space (``search_space``), the study's storage
(``storage``), each trial's fit process (``trial_fit``) and its report back to the study (``reporting``), and the
sweep's report (``report``). Imports ``cli`` and the rooms below it; ``reporting`` runs inside a trial's fit, so it
imports only ``base``."""
