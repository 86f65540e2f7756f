"""The model side of bo_loop: fitting a surrogate, the initial design, the acquisition and its
optimisation, proposals, recommendations and cross-validation. Pure functions of plain records
(`Space`, `Objective`, `Trial`) and settings; nothing here opens a database.
"""
