"""A trained model: found from ``--ckpt_path`` and rebuilt from its checkpoint (``loading``), the small command
line of the commands that use one (``command_line``), and what its evaluation tells (``evaluation``). Imports
``runs`` and the rooms below it; not ``cli``, which trains."""
