"""How common a name token is, roughly, among English-speaking contacts.

Two contacts both called "John Smith" are weak evidence of one person; two called "Zbigniew
Brzezinski" are strong evidence. Matching needs an estimate of a token's frequency, and
blocking needs to know which tokens are too common to stand alone in a key. Exact census
frequencies are not needed: three tiers (about the top 25, top 100 and top 300 of US/UK/AU
given names and surnames, written by hand from public census rankings) give the order of
magnitude, and everything else counts as rare.
"""

from __future__ import annotations

_GIVEN_TIERS: tuple[str, ...] = (
    # Top ~25: each roughly 1% or more of people.
    "james john robert michael william david richard joseph thomas charles christopher daniel "
    "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen nancy lisa",
    # Next ~100: roughly 0.2-1%.
    "matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy "
    "ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin "
    "scott brandon benjamin samuel gregory alexander frank patrick raymond jack dennis jerry "
    "tyler aaron jose adam nathan henry douglas zachary peter kyle noah ethan jeremy walter "
    "christian keith roger terry austin sean gerald carl harold dylan arthur lawrence jordan "
    "jesse bryan billy bruce gabriel joe logan alan juan albert willie elijah wayne randy "
    "betty margaret sandra ashley kimberly emily donna michelle carol amanda melissa deborah "
    "stephanie dorothy rebecca sharon laura cynthia amy kathleen angela shirley brenda emma "
    "anna pamela nicole samantha katherine christine helen debra rachel carolyn janet maria "
    "catherine heather diane olivia julie joyce victoria ruth virginia lauren kelly christina "
    "joan evelyn judith andrea hannah megan cheryl jacqueline martha madison teresa gloria "
    "sara janice ann kathryn abigail sophia frances jean alice judy isabella julia grace "
    "amber denise danielle marilyn beverly charlotte natalie theresa diana brittany doris "
    "kayla alexis lori marie",
    # Next ~200: roughly 0.05-0.2%.
    "vincent russell louis philip bobby johnny bradley roy ralph eugene randall harry howard "
    "carlos russell luis fred shawn travis phillip chad martin craig alex curtis allen caleb "
    "lucas mason owen connor luke isaac hunter liam jackson aiden cameron evan blake cole "
    "riley jayden dominic ian adrian colin hayden mitchell lachlan liam jake oliver max "
    "harrison angus callum declan tom ben sam dan matt mike chris nick steve tony jim bob "
    "bill dave tim rob joe will ed ted tommy danny jimmy rick greg jeff ron ken don "
    "kate katie jess jen liz beth sue pat meg amy ella chloe mia zoe ruby lily lucy "
    "isabelle georgia jasmine holly sophie grace jade tayla caitlin bethany courtney "
    "tiffany crystal erin rose kim sally jane joanne michele gina tina tracy wendy kristen "
    "melanie vanessa erica monica sylvia rita paula leslie dawn connie edna tammy ellen "
    "peggy anne josephine ashleigh jessie kylie brooke shannon mikayla taylor alyssa "
    "morgan destiny leah kaitlyn savannah claire madeline emilia caroline eleanor stella",
)

_SURNAME_TIERS: tuple[str, ...] = (
    # Top ~25: each roughly 0.3% or more of people.
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee nguyen white "
    "harris thompson",
    # Next ~100: roughly 0.1-0.3%.
    "clark ramirez lewis robinson walker young allen king wright scott torres hill flores "
    "green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips "
    "evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook "
    "rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox "
    "ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price "
    "alvarez castillo sanders patel myers long ross foster jimenez powell jenkins perry "
    "russell sullivan bell coleman butler henderson barnes gonzales fisher vasquez simmons "
    "romero jordan patterson alexander hamilton graham reynolds griffin wallace moreno west "
    "cole hayes bryant herrera gibson ellis tran medina aguilar stevens murray ford castro "
    "marshall owens harrison fernandez mcdonald woods washington kennedy wells vargas henry "
    "chen freeman webb tucker guzman burns crawford olson simpson porter hunter gordon "
    "mendez silva shaw snyder mason dixon munoz hunt hicks holmes palmer wagner black "
    "robertson boyd rose stone salazar fox warren mills meyer rice schmidt garza daniels "
    "ferguson nichols stephens soto weaver ryan gardner payne grant dunn kelley spencer "
    "hawkins arnold pierce vazquez hansen peters santos hart bradley knight elliott "
    "cunningham duncan armstrong hudson carroll lane riley andrews alvarado ray delgado "
    "berry perkins hoffman johnston matthews pena richards contreras willis carpenter "
    "lawrence sandoval wang li zhang liu singh kumar",
    # Next: common in the UK and Australia, and more US names (roughly 0.03-0.1%).
    "wood walsh wright hughes edwards green lewis hall clarke jackson wood turner hill "
    "moore cooper ward king baker harrison morgan allen james scott phillips watson davies "
    "evans roberts thomson mackenzie macdonald campbell stewart anderson murray reid "
    "ross paterson young morrison kerr fraser mclean mitchell wilkinson byrne kelly "
    "obrien ryan brennan doyle walsh lynch mccarthy gallagher doherty kennedy quinn "
    "oconnor oneill donnelly chapman lloyd marsh hunt barker kaur begum ali khan ahmed "
    "hussain rahman chan wong ho ng lim tan cheung lam yang huang zhao wu zhou xu sun "
    "ma zhu hu guo he lin luo liang song zheng xie han tang feng yu dong xiao cheng",
)

# Share of people whose given name or surname is one token of each tier, and of the rest.
_TIER_FREQUENCY: tuple[float, ...] = (1.2e-2, 4e-3, 1e-3)
_RARE_GIVEN = 2e-4
_RARE_SURNAME = 3e-5


def _tiers(rows: tuple[str, ...]) -> dict[str, int]:
    tiers: dict[str, int] = {}
    for tier, row in enumerate(rows):
        for name in row.split():
            tiers.setdefault(name, tier)
    return tiers


GIVEN_TIER: dict[str, int] = _tiers(_GIVEN_TIERS)
SURNAME_TIER: dict[str, int] = _tiers(_SURNAME_TIERS)


def given_frequency(token: str) -> float:
    tier = GIVEN_TIER.get(token)
    return _RARE_GIVEN if tier is None else _TIER_FREQUENCY[tier]


def surname_frequency(token: str) -> float:
    tier = SURNAME_TIER.get(token)
    return _RARE_SURNAME if tier is None else _TIER_FREQUENCY[tier]


# The top ~125 given names and surnames: too common to block on alone.
COMMON_GIVEN: frozenset[str] = frozenset(n for n, tier in GIVEN_TIER.items() if tier <= 1)
COMMON: frozenset[str] = COMMON_GIVEN | {n for n, tier in SURNAME_TIER.items() if tier <= 1}
# Any listed name: an email local part that is only a name (`susan@`) is not a blocking key.
KNOWN: frozenset[str] = frozenset(GIVEN_TIER) | frozenset(SURNAME_TIER)
