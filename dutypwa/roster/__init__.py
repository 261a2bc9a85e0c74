"""The duty roster (值班安排表, rules R1–R7): the holiday calendar, shift times, the rule
checks as pure functions, and (to come) the monthly roster, requests and comp time.
Design notes: ../shared/domain/roster-design.md.
"""
